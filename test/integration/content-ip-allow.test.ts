// An IP the connection filter allow-listed is not spam filtered (SCL -1) but still malware
// scanned, with the real engines. The connection filter lives on another branch; a stand-in at
// the connectionFilter stage reports `ipAllowed` the way the runner learns it (evidence.ipAllowed).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { startInProcess, type InProcessSluice } from '../helpers/daemon-inproc.js';
import { message, send } from '../helpers/clients.js';
import { startClamd, EICAR, type Clamd } from '../helpers/clamd.js';
import { startRspamd, GTUBE, type Rspamd } from '../helpers/rspamd.js';
import { FILTER_FACTORIES } from '../../src/filters/registry.js';
import type { Filter } from '../../src/filters/contract.js';

const ALLOWED_IP = '127.0.0.1';
const OTHER_IP = '127.0.0.3';
let host: SmartHost;
let clamd: Clamd;
let rspamd: Rspamd;
let sluice: InProcessSluice;

const allowList: Filter = {
  name: 'test-ip-allow',
  stage: 'connectionFilter',
  onError: 'Tempfail',
  connect: (ctx) => ({
    action: { kind: 'accept' },
    reason: ctx.session.clientIp === ALLOWED_IP ? 'IP allow list' : 'not listed',
    evidence: { ipAllowed: ctx.session.clientIp === ALLOWED_IP },
  }),
};

before(async () => {
  const certs = await makeCertSet();
  [clamd, rspamd, host] = await Promise.all([startClamd(), startRspamd(), startSmartHost()]);
  sluice = await startInProcess({
    certs,
    filterFactories: [...FILTER_FACTORIES, () => [allowList]],
    patch: {
      outboundConnectors: [{ name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, cloudServicesMailEnabled: true, smartHosts: [`127.0.0.1:${host.port}`] }],
      malwareFilter: { enabled: true, clamd: clamd.address },
      spamFilter: { enabled: true, rspamd: { url: rspamd.url }, highConfidenceSpamAction: 'Reject' },
    },
  });
});

after(async () => {
  await sluice?.stop();
  await Promise.all([host?.close(), clamd?.stop(), rspamd?.stop()]);
});

const sendFrom = (ip: string, subject: string, body: string) =>
  send({
    port: sluice.port,
    localAddress: ip,
    from: 'ann@fabrikam.com',
    to: ['bob@contoso.com'],
    raw: message({ from: 'ann@fabrikam.com', to: 'bob@contoso.com', subject, body }),
    ignoreTLS: true,
  });

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return String((err as { response?: string }).response ?? (err as Error).message);
  }
  throw new Error('the message was accepted');
}

test('GTUBE from an allow-listed IP is delivered with SCL -1 (rspamd not asked)', async () => {
  const n = host.messages.length;
  await sendFrom(ALLOWED_IP, 'gtube from allowed ip', `${GTUBE}\r\n`);
  const [got] = (await host.waitFor(n + 1)).slice(n);
  assert.match(got!.raw.toString('latin1'), /^X-MS-Exchange-CrossPremises-SCL: -1\r$/m);
});

test('GTUBE from another IP is still refused as spam', async () => {
  assert.match(await refusal(sendFrom(OTHER_IP, 'gtube from other ip', `${GTUBE}\r\n`)), /^550 5\.7\.1 Message rejected as spam/);
});

test('EICAR from the allow-listed IP is still refused by the malware filter', async () => {
  assert.match(await refusal(sendFrom(ALLOWED_IP, 'eicar from allowed ip', `${EICAR}\r\n`)), /^550 5\.7\.1 Message rejected: malware detected/);
});
