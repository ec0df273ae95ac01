// The fault battery for peers: a smart host that is down then up, answers 4xx, answers 5xx,
// speaks garbage or drops the connection mid-DATA, and a DNS server that is down for an
// MX-routed domain. Each test names what the sender saw, what the smart host received, and
// checks that every acknowledged message was delivered, or failed/bounced — nothing lost.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { startSluice, type SluiceProcess } from '../helpers/sluice.js';
import { freePort } from '../helpers/ports.js';
import { message, send } from '../helpers/clients.js';
import { startGarbageHost, type GarbageHost } from '../helpers/garbage-host.js';
import { startDnsmasq, type FaultDns } from '../helpers/fault-dns.js';
import type { SpoolRecord } from '../../src/queue/record.js';
import { readSpoolRecord, spoolHas } from '../helpers/spool-files.js';

const WAIT_MS = 15_000;
const SENDER = 'sun@example.org';

let certs: CertSet;
let sluice: SluiceProcess;
const ports: Record<string, number> = {};
const hosts: Record<string, SmartHost> = {};
const garbage: Record<string, GarbageHost> = {};
let dns: FaultDns | undefined;
const tempfailSeen = new Map<string, number>();
/** queue id → outcome, for the closing tally. */
const acked = new Map<string, { rcpt: string; subject: string }>();

const subjectOf = (raw: Buffer) => /^Subject: (.*)\r$/m.exec(raw.toString('latin1'))?.[1];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  certs = await makeCertSet();
  for (const k of ['down', 'dns', 'nonsense', 'middata', 'mx']) ports[k] = await freePort();
  hosts.tempfail = await startSmartHost({
    // Refuses each message's first two DATA attempts with 451, then accepts it.
    onData: (m) => {
      const s = subjectOf(m.raw) ?? '';
      const n = (tempfailSeen.get(s) ?? 0) + 1;
      tempfailSeen.set(s, n);
      return n <= 2 ? '451 4.3.0 Temporary local problem, try later' : null;
    },
  });
  hosts.permfail = await startSmartHost({ onRcpt: () => '550 5.1.1 User unknown' });
  hosts.bounces = await startSmartHost();
  garbage.nonsense = await startGarbageHost('nonsense', ports.nonsense);
  garbage.middata = await startGarbageHost('close-mid-data', ports.middata);
  const domains = ['down.test', 'tempfail.test', 'permfail.test', 'nonsense.test', 'middata.test', 'mx.test'];
  const to = (name: string, domain: string, port: number) => ({ name, connectorType: 'Partner', recipientDomains: [domain], smartHosts: [`127.0.0.1:${port}`] });
  sluice = await startSluice({
    certs,
    patch: {
      dns: { servers: [`127.0.0.1:${ports.dns}`] },
      // Hosts come back within the test: a down-mark (and the deferral it causes) lasts one second.
      delivery: { mxPort: ports.mx, retry: { initial: '1s', max: '2s', lifetime: '1h' }, hostDownTime: '1s' },
      acceptedDomains: domains.map((domain) => ({ domain, type: 'Authoritative' })),
      outboundConnectors: [
        to('Down', 'down.test', ports.down!),
        to('Tempfail', 'tempfail.test', hosts.tempfail.port),
        to('Permfail', 'permfail.test', hosts.permfail.port),
        to('Nonsense', 'nonsense.test', ports.nonsense!),
        to('Middata', 'middata.test', ports.middata!),
        to('Bounces', 'example.org', hosts.bounces.port),
        { name: 'MX route', connectorType: 'Partner', recipientDomains: ['mx.test'], useMxRecord: true },
      ],
    },
  });
});

after(async () => {
  await sluice?.stop();
  await dns?.stop();
  await Promise.all([...Object.values(hosts).map((h) => h.close()), ...Object.values(garbage).map((g) => g.close())]);
});

/** Sends one message; asserts the sender saw 250 and returns the queue id. */
async function sendOne(rcpt: string, subject: string): Promise<string> {
  const info = await send({ port: sluice.port, from: SENDER, to: [rcpt], raw: message({ from: SENDER, to: rcpt, subject }) });
  assert.match(info.response, /^250 /, 'the sender saw 250');
  const id = /queued as ([0-9A-F]+)/.exec(info.response)?.[1];
  assert.ok(id, info.response);
  acked.set(id, { rcpt, subject });
  return id;
}

const spoolDir = () => path.join(sluice.dir, 'spool');

/** Polls the spool record until `pred` holds; the record is the durable proof of a deferral. */
async function waitRecord(id: string, pred: (r: SpoolRecord) => boolean, what: string): Promise<SpoolRecord> {
  const deadline = Date.now() + WAIT_MS;
  let last: SpoolRecord | null = null;
  while (Date.now() < deadline) {
    last = (await readSpoolRecord(spoolDir(), id)) ?? last;
    if (last && pred(last)) return last;
    await sleep(100);
  }
  throw new Error(`${id}: ${what} not seen in the spool record within ${WAIT_MS} ms: ${JSON.stringify(last?.rcpts)}`);
}

const deferred = (status: RegExp) => (r: SpoolRecord) => r.rcpts[0]!.status === 'pending' && r.rcpts[0]!.attempts >= 1 && status.test(r.rcpts[0]!.lastError ?? '');
const delivered = (h: SmartHost, subject: string) => h.messages.filter((m) => subjectOf(m.raw) === subject).length;

test('smart host down, then up: sender saw 250; deferred (4.4.1) while down; the host received each message once after it came up', async () => {
  const ids = [await sendOne('a@down.test', 'down 1'), await sendOne('b@down.test', 'down 2')];
  for (const id of ids) await waitRecord(id, deferred(/^4\.4\.1 /), 'a 4.4.1 deferral');
  hosts.down = await startSmartHost({ port: ports.down });
  await hosts.down.waitFor(2, WAIT_MS);
  await sleep(300);
  assert.equal(delivered(hosts.down, 'down 1'), 1);
  assert.equal(delivered(hosts.down, 'down 2'), 1);
});

test('smart host answers 451 at DATA: sender saw 250; the host refused two attempts, then received the message once', async () => {
  const id = await sendOne('c@tempfail.test', 'tempfail 1');
  await waitRecord(id, deferred(/^4\.3\.0 /), 'a 4.3.0 deferral');
  await hosts.tempfail!.waitFor(1, WAIT_MS);
  await sleep(300);
  assert.equal(hosts.tempfail!.rejected.filter((m) => subjectOf(m.raw) === 'tempfail 1').length, 2);
  assert.equal(delivered(hosts.tempfail!, 'tempfail 1'), 1);
});

test('smart host answers 550 at RCPT: sender saw 250; the host received nothing; the message failed permanently (failed/ and/or a DSN to the sender)', async () => {
  const id = await sendOne('d@permfail.test', 'permfail 1');
  const inFailed = () => spoolHas(spoolDir(), id, 'failed');
  const bounce = () => hosts.bounces!.messages.find((m) => m.rcptTo.includes(SENDER) && m.raw.toString('latin1').includes('d@permfail.test'));
  const deadline = Date.now() + WAIT_MS;
  while (!bounce() && !(await inFailed()) && Date.now() < deadline) await sleep(100);
  await sleep(2_000); // a bounce may follow the move to failed/
  const dsn = bounce();
  const failed = await inFailed();
  console.log(`peers: a 550 at RCPT ended as: ${JSON.stringify({ keptInFailed: failed, bouncedToSender: Boolean(dsn) })}`);
  assert.ok(failed || dsn, 'kept in failed/ or bounced to the sender');
  if (failed) {
    const rec = (await readSpoolRecord(spoolDir(), id, 'failed'))!;
    assert.equal(rec.rcpts[0]!.status, 'failed');
    assert.match(rec.rcpts[0]!.lastError ?? '', /5\.1\.1/);
  }
  if (dsn) {
    assert.equal(dsn.mailFrom, '', 'a bounce comes from the null sender');
    assert.match(dsn.raw.toString('latin1'), /multipart\/report[^]*Status: 5\.1\.1/);
  }
  assert.equal(await spoolHas(spoolDir(), id), false, 'the failed message left the active queue');
  assert.equal(hosts.permfail!.messages.length, 0, 'the smart host accepted nothing');
});

async function garbageCase(kind: 'nonsense' | 'middata', domain: string, subject: string): Promise<void> {
  const id = await sendOne(`e@${domain}`, subject);
  await waitRecord(id, deferred(/^4\./), 'a 4.x.x deferral');
  assert.ok(garbage[kind]!.connections >= 1);
  if (kind === 'middata') assert.ok(garbage.middata!.cutInData >= 1, 'the peer dropped the connection after DATA began');
  await garbage[kind]!.close();
  hosts[kind] = await startSmartHost({ port: ports[kind] });
  await hosts[kind].waitFor(1, WAIT_MS);
  await sleep(300);
  assert.equal(delivered(hosts[kind], subject), 1);
}

test('smart host greets with garbage: sender saw 250; the peer got no message; deferred, then delivered once a real host takes the port', async () => {
  await garbageCase('nonsense', 'nonsense.test', 'nonsense 1');
});

test('smart host drops the connection mid-DATA: sender saw 250; deferred, not lost; delivered once when the host behaves', async () => {
  await garbageCase('middata', 'middata.test', 'middata 1');
});

test('DNS server down for an MX-routed domain: sender saw 250; deferred with 4.4.3; delivered once the DNS server answers', async () => {
  const id = await sendOne('f@mx.test', 'mx 1');
  const rec = await waitRecord(id, deferred(/^4\.4\.3 /), 'a 4.4.3 deferral');
  assert.match(rec.rcpts[0]!.lastError!, /mx\.test/);
  hosts.mx = await startSmartHost({ port: ports.mx });
  await sleep(1_500);
  assert.equal(hosts.mx.messages.length, 0, 'nothing reaches the MX host while DNS is down');
  dns = await startDnsmasq(ports.dns!, [['mx.test', 'mx1.mx.test', 10]], [['mx1.mx.test', '127.0.0.1']]);
  await hosts.mx.waitFor(1, WAIT_MS);
  assert.equal(delivered(hosts.mx, 'mx 1'), 1);
});

test('nothing lost: every acknowledged message was delivered or failed/bounced', async () => {
  await sleep(500);
  const deliveredSubjects = Object.entries(hosts)
    .filter(([k]) => k !== 'bounces')
    .flatMap(([, h]) => h.messages.map((m) => subjectOf(m.raw)));
  let deliveredN = 0;
  let failedN = 0;
  for (const [id, { subject }] of acked) {
    const n = deliveredSubjects.filter((s) => s === subject).length;
    const failed = await spoolHas(spoolDir(), id, 'failed');
    const bounced = hosts.bounces!.messages.some((m) => m.raw.toString('latin1').includes(acked.get(id)!.rcpt));
    assert.ok(n === 1 || failed || bounced, `${subject} (${id}) delivered once, failed or bounced`);
    if (n >= 1) deliveredN++;
    else failedN++;
  }
  const tally = { acknowledged: acked.size, delivered: deliveredN, failedOrBounced: failedN, bouncesSent: hosts.bounces!.messages.length, lost: 0 };
  console.log(`peers tally: ${JSON.stringify(tally)}`);
  assert.equal(sluice.proc.exitCode, null, 'the daemon ran throughout');
});
