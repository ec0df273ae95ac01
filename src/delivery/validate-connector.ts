// `sluice validate <outbound connector>` (EOP's Validate-OutboundConnector): Resolve the smart
// hosts (or the recipient domain's MX with useMxRecord), probe each address (Connect, EHLO, TLS;
// probe-host.ts), then Send a test message to validationRecipients / --recipient through the
// real delivery pool, so the connector's TLS policy and client certificate apply as for mail.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Model, OutboundConnector } from '../domain/model.js';
import { makeResolver, mxTargets, smartHostTargets, type HostList } from './hosts.js';
import { Pools, targetKey, type PoolTarget } from './pools.js';
import { probeHost, type StageResult } from './probe-host.js';
import type { SmtpError } from './connection.js';

export const VALIDATION_SENDER_LOCAL = 'SluiceConnectorValidation';
const VALIDATION_SUBJECT = 'Test email for connector validation';
/** Each stage of the probe; the Send stage has the delivery timeouts of the config. */
const PROBE_TIMEOUT_MS = 15_000;

export interface ValidationReport {
  connector: string;
  at: number;
  passed: boolean;
  recipients: string[];
  stages: StageResult[];
}

function testMessage(model: Model, from: string, to: string[], at: number): string {
  const id = `<${randomUUID()}@${model.server.hostname}>`;
  return [
    `From: ${from}`,
    `To: ${to.join(', ')}`,
    `Subject: ${VALIDATION_SUBJECT}`,
    `Date: ${new Date(at).toUTCString()}`,
    `Message-ID: ${id}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    `This message was sent by sluice validate from ${model.server.hostname} to test the outbound connector.`,
    '',
  ].join('\r\n');
}

async function resolveTargets(model: Model, c: OutboundConnector, recipients: string[]): Promise<HostList> {
  const dns = { resolver: makeResolver(model), systemAddresses: model.dns.servers.length === 0 };
  if (!c.useMxRecord) return smartHostTargets(dns, c, 25);
  const domain = recipients[0]?.split('@').pop();
  if (!domain) return { kind: 'dns-error', error: 'useMxRecord: give a --recipient (or validationRecipients) to look up its MX', permanent: true, status: '5.1.2' };
  return mxTargets(dns, domain, model.delivery.mxPort);
}

async function send(model: Model, c: OutboundConnector, target: PoolTarget, from: string, to: string[], at: number): Promise<StageResult> {
  const t0 = Date.now();
  const where = `${target.name}:${target.port}`;
  const pools = new Pools(() => model.server.hostname, undefined, () => model.delivery.timeouts);
  const body = testMessage(model, from, to, at);
  try {
    const info = await pools.send({ key: `validate:${c.name}`, connector: c, maxConnections: 1 }, target, { from, to }, () => Readable.from([Buffer.from(body)]));
    const refused = info.rejected.length ? `; refused: ${info.rejected.join(', ')} (${(info.rejectedErrors ?? []).map((e) => e.response).join('; ')})` : '';
    return { stage: 'Send', target: where, status: info.rejected.length ? 'failed' : 'passed', ms: Date.now() - t0, detail: `${info.response}${refused}` };
  } catch (err) {
    const e = err as SmtpError;
    return { stage: 'Send', target: where, status: 'failed', ms: Date.now() - t0, detail: e.response ?? e.message };
  } finally {
    pools.closeAll();
  }
}

export async function validateOutbound(model: Model, c: OutboundConnector, recipientsArg: string[], now = Date.now()): Promise<ValidationReport> {
  const recipients = recipientsArg.length ? recipientsArg : [...c.validationRecipients];
  const stages: StageResult[] = [];
  const done = (): ValidationReport => ({ connector: c.name, at: now, recipients, stages, passed: stages.every((s) => s.status === 'passed') });
  if (!c.enabled) {
    stages.push({ stage: 'Connector', target: null, status: 'failed', ms: 0, detail: 'the connector is disabled (enabled: false): no mail is routed through it' });
    return done();
  }
  const t0 = Date.now();
  const list = await resolveTargets(model, c, recipients);
  if (list.kind !== 'hosts') {
    stages.push({ stage: 'Resolve', target: null, status: 'failed', ms: Date.now() - t0, detail: list.kind === 'null-mx' ? 'null MX: the domain takes no mail' : list.error });
    return done();
  }
  const via = c.useMxRecord ? `MX of ${recipients[0]?.split('@').pop()}` : 'smart hosts';
  stages.push({ stage: 'Resolve', target: null, status: 'passed', ms: Date.now() - t0, detail: `${via}: ${list.hosts.map((h) => `${h.name} → ${targetKey(h)}`).join(', ')}` });
  let usable: PoolTarget | null = null;
  for (const target of list.hosts) {
    const probe = await probeHost(target, c, model.server.hostname, PROBE_TIMEOUT_MS);
    stages.push(...probe.stages);
    if (probe.usable && !usable) usable = target;
  }
  if (!recipients.length) {
    stages.push({ stage: 'Send', target: null, status: 'failed', ms: 0, detail: 'no recipient: set validationRecipients on the connector or give --recipient' });
  } else if (!usable) {
    stages.push({ stage: 'Send', target: null, status: 'skipped', ms: 0, detail: 'no host passed Connect, EHLO and TLS' });
  } else {
    stages.push(await send(model, c, usable, `${VALIDATION_SENDER_LOCAL}@${model.server.hostname}`, recipients, now));
  }
  return done();
}
