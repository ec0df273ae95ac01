// Message trace over real sockets: mail sent with nodemailer and swaks through the real daemon to
// a recording smart host that accepts, defers once or refuses; `sluice trace` then shows what EOP's
// message trace would (Delivered, Failed with the reply, Pending), `--details` every event with
// EOP's [{LED=…};{MSG=…};{FQDN=…};{IP=…};{LRT=…}] for failures. /metrics moves with the traffic.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCertSet } from '../helpers/certs.js';
import { startSmartHost, arrivedFor, type SmartHost } from '../helpers/smart-host.js';
import { runCli, startSluice, type SluiceProcess } from '../helpers/sluice.js';
import { message, replyTo, send, swaks } from '../helpers/clients.js';
import { adminGet, series } from '../helpers/admin-http.js';

const POLL_MS = 100;
const WAIT_MS = 15_000;
let host: SmartHost;
let sluice: SluiceProcess;
const deferredOnce = new Set<string>();

interface Row {
  sender: string;
  recipient: string;
  subject: string | null;
  status: string;
  connector: string | null;
  queueId: string | null;
  messageId: string | null;
  reply: string | null;
}

async function trace(args: string[]): Promise<Row[]> {
  const r = await runCli(['trace', '--config', sluice.configPath, '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row);
}

/** Polls `sluice trace` until a row for `recipient` has `status` (the trace is written in batches). */
async function traced(recipient: string, status: string): Promise<Row> {
  const deadline = Date.now() + WAIT_MS;
  let rows: Row[] = [];
  while (Date.now() < deadline) {
    rows = await trace(['--recipient', recipient]);
    const hit = rows.find((r) => r.status === status);
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  assert.fail(`no ${status} row for ${recipient} within ${WAIT_MS} ms: ${JSON.stringify(rows)}`);
}

const metrics = async () => (await adminGet(sluice.adminPort!, '/metrics')).body;

before(async () => {
  const certs = await makeCertSet();
  host = await startSmartHost({
    onRcpt: (r) => {
      if (r.startsWith('ghost@')) return '550 5.1.1 <ghost@contoso.com>: Recipient address rejected: User unknown';
      if (r.startsWith('later@') && !deferredOnce.has(r)) {
        deferredOnce.add(r);
        return '450 4.2.1 Mailbox busy, try again later';
      }
      return null;
    },
  });
  sluice = await startSluice({
    certs,
    patch: {
      outboundConnectors: [{ name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${host.port}`] }],
      transportRules: [{ name: 'Hold payment changes', subjectContainsWords: ['bank details changed'], quarantine: true }],
    },
  });
  assert.ok(sluice.adminPort, 'the admin listener logged its port');
});

after(async () => {
  await sluice?.stop();
  await host?.close();
});

describe('message trace', () => {
  test('a delivered message shows as Delivered with its subject, connector and Message-ID', async () => {
    const before = await metrics();
    await send({ port: sluice.port, from: 'bob@fabrikam.com', to: ['john@contoso.com'], raw: message({ from: 'bob@fabrikam.com', to: 'john@contoso.com', subject: 'Quarterly report' }) });
    await arrivedFor(host, 'john@contoso.com');
    const row = await traced('john@contoso.com', 'Delivered');
    assert.equal(row.sender, 'bob@fabrikam.com');
    assert.equal(row.subject, 'Quarterly report');
    assert.equal(row.connector, 'To on-prem');
    assert.match(row.messageId ?? '', /@test$/);
    const bySender = await trace(['--sender', 'BOB@fabrikam.com', '--status', 'Delivered']);
    assert.ok(bySender.some((r) => r.queueId === row.queueId), 'found by sender, case-insensitively');
    const byId = await trace(['--message-id', `<${row.messageId}>`]);
    assert.deepEqual(byId.map((r) => r.queueId), [row.queueId]);
    const after = await metrics();
    assert.equal(series(after, 'sluice_messages_received_total', { inbound: 'none' }) - series(before, 'sluice_messages_received_total', { inbound: 'none' }), 1);
    assert.equal(series(after, 'sluice_messages_delivered_total', { connector: 'To on-prem' }) - series(before, 'sluice_messages_delivered_total', { connector: 'To on-prem' }), 1);
    assert.ok(series(after, 'sluice_delivery_latency_seconds_count', { connector: 'To on-prem' }) >= 1);
    assert.ok(series(after, 'sluice_sessions_total', { inbound: 'none' }) > series(before, 'sluice_sessions_total', { inbound: 'none' }));
    assert.ok(series(after, 'sluice_tls_messages_total', { direction: 'in' }) >= 1);
  });

  test('a recipient refused at RCPT shows as Failed with the reply it was given', async () => {
    const before = await metrics();
    const r = await swaks(['--server', `127.0.0.1:${sluice.port}`, '--from', 'sun@example.org', '--to', 'sun@fabrikam.test', '--quit-after', 'RCPT']);
    assert.match(replyTo(r, 'RCPT TO') ?? '', /^550 5\.4\.1/);
    const row = await traced('sun@fabrikam.test', 'Failed');
    assert.match(row.reply ?? '', /^550 5\.4\.1 /);
    assert.equal(row.queueId, null, 'no queue id: nothing was accepted');
    const after = await metrics();
    assert.equal(series(after, 'sluice_messages_rejected_total', { stage: 'rcpt', code: '550' }) - series(before, 'sluice_messages_rejected_total', { stage: 'rcpt', code: '550' }), 1);
  });

  test('a message refused at DATA shows as Failed with the 552 reply', async () => {
    const before = await metrics();
    const big = message({ from: 'bob@fabrikam.com', to: 'big@contoso.com', subject: 'Too big', body: `${'x'.repeat(998)}\r\n`.repeat(1_200) });
    await assert.rejects(send({ port: sluice.port, from: 'bob@fabrikam.com', to: ['big@contoso.com'], raw: big }), /552/);
    const row = await traced('big@contoso.com', 'Failed');
    assert.match(row.reply ?? '', /^552 5\.3\.4 /);
    assert.equal(row.subject, 'Too big', 'the header was read while the body streamed');
    const after = await metrics();
    assert.equal(series(after, 'sluice_messages_rejected_total', { stage: 'data', code: '552' }) - series(before, 'sluice_messages_rejected_total', { stage: 'data', code: '552' }), 1);
  });

  test('a message deferred once and then delivered shows as Delivered; --details lists the deferral EOP-style', async () => {
    const before = await metrics();
    await send({ port: sluice.port, from: 'bob@fabrikam.com', to: ['later@contoso.com'], raw: message({ from: 'bob@fabrikam.com', to: 'later@contoso.com', subject: 'Second try' }) });
    await arrivedFor(host, 'later@contoso.com', WAIT_MS);
    const row = await traced('later@contoso.com', 'Delivered');
    const d = await runCli(['trace', '--config', sluice.configPath, '--details', row.queueId!]);
    assert.equal(d.code, 0, d.stderr);
    const lines = d.stdout.split('\n');
    const kinds = lines.map((l) => /^\d{4}-\d\d-\d\d \S+\s+(\w+)/.exec(l)?.[1]).filter(Boolean);
    assert.deepEqual(kinds, ['RECEIVE', 'DEFER', 'DELIVER'], d.stdout);
    const defer = lines.find((l) => /\bDEFER\b/.test(l))!;
    assert.match(defer, /\[\{LED=450 4\.2\.1 Mailbox busy, try again later\};\{MSG=[^}]*\};\{FQDN=[^}]*\};\{IP=127\.0\.0\.1\};\{LRT=\d{4}-\d\d-\d\d [\d:]+Z\}\]/);
    assert.match(d.stdout, /later@contoso\.com: Delivered \(To on-prem\)/);
    const after = await metrics();
    assert.equal(series(after, 'sluice_messages_deferred_total', { connector: 'To on-prem' }) - series(before, 'sluice_messages_deferred_total', { connector: 'To on-prem' }), 1);
  });

  test('a bounced recipient shows as Failed with the remote reply; --details shows the failure and the DSN', async () => {
    const before = await metrics();
    await send({ port: sluice.port, from: 'bob@fabrikam.com', to: ['ghost@contoso.com'], raw: message({ from: 'bob@fabrikam.com', to: 'ghost@contoso.com', subject: 'Nobody home' }) });
    const row = await traced('ghost@contoso.com', 'Failed');
    assert.match(row.reply ?? '', /^550 5\.1\.1 /);
    const d = await runCli(['trace', '--config', sluice.configPath, '--details', row.queueId!]);
    assert.match(d.stdout, /FAIL\s+ghost@contoso\.com\s+Failed via connector "To on-prem": \[\{LED=550 5\.1\.1 [^}]*User unknown\};\{MSG=[^}]*\};\{FQDN=[^}]*\};\{IP=127\.0\.0\.1\};\{LRT=[^}]+\}\]/, d.stdout);
    // The DSN to bob@fabrikam.com is queued (the smart host takes every domain here).
    const deadline = Date.now() + WAIT_MS;
    let out = d.stdout;
    while (!/\bDSN\b/.test(out) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      out = (await runCli(['trace', '--config', sluice.configPath, '--details', row.queueId!])).stdout;
    }
    assert.match(out, /DSN\s+ghost@contoso\.com\s+Non-delivery report/);
    const after = await metrics();
    assert.equal(series(after, 'sluice_messages_bounced_total', { connector: 'To on-prem', kind: 'rejected' }) - series(before, 'sluice_messages_bounced_total', { connector: 'To on-prem', kind: 'rejected' }), 1);
  });

  test('a message a rule quarantines shows as Quarantined (--status Quarantined finds it), is not delivered, and --details names the rule', async () => {
    const before = await metrics();
    const r = await send({ port: sluice.port, from: 'eve@fabrikam.com', to: ['payroll@contoso.com'], raw: message({ from: 'eve@fabrikam.com', to: 'payroll@contoso.com', subject: 'Bank details changed' }) });
    assert.match(r.response, /^250/);
    const row = await traced('payroll@contoso.com', 'Quarantined');
    assert.equal(row.sender, 'eve@fabrikam.com');
    const held = await trace(['--status', 'Quarantined']);
    assert.ok(held.some((x) => x.queueId === row.queueId && x.recipient === 'payroll@contoso.com'), 'found by --status Quarantined');
    assert.ok(!held.some((x) => x.recipient === 'john@contoso.com'), '--status Quarantined lists only quarantined mail');
    const details = await runCli(['trace', '--config', sluice.configPath, '--details', row.queueId!]);
    assert.equal(details.code, 0, details.stderr);
    assert.match(details.stdout, /QUARANTINE/);
    assert.match(details.stdout, /Hold payment changes/);
    assert.equal(host.messages.filter((m) => m.rcptTo.includes('payroll@contoso.com')).length, 0, 'nothing reached the smart host');
    const after = await metrics();
    const q = { inbound: 'none', type: 'TransportRule' };
    assert.equal(series(after, 'sluice_messages_quarantined_total', q) - series(before, 'sluice_messages_quarantined_total', q), 1);
  });

  test('the text view has EOP\'s columns and an unknown queue id is an error', async () => {
    const r = await runCli(['trace', '--config', sluice.configPath, '--recipient', 'john@contoso.com']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.split('\n')[0]!, /^Date\s+Sender\s+Recipient\s+Subject\s+Status\s+Connector\s+Queue ID\s+Reply$/);
    assert.match(r.stdout, /bob@fabrikam\.com\s+john@contoso\.com\s+Quarterly report\s+Delivered\s+To on-prem/);
    const bad = await runCli(['trace', '--config', sluice.configPath, '--details', 'NOSUCHID']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /no events for queue id NOSUCHID/);
    const wrong = await runCli(['trace', '--config', sluice.configPath, '--status', 'Lost']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /--status must be one of Delivered, Failed, Pending, Quarantined, FilteredAsSpam, Expanded/);
  });
});
