// The queue manager over real sockets: a dead or slow destination delays only its own mail. A
// smart host that accepts TCP and never greets holds its own connector's window, not another
// connector's mail; a connector whose hosts are all down is deferred without connecting until the
// first down-mark expires (connections counted at the hosts); per-stage timeouts cut a peer that
// never greets, never answers DATA, or never answers the final dot; an explicit route reaches an
// isTransportRuleScoped connector while a route that is not explicit follows the live config.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import pino from 'pino';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { arrivedFor, startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { launch, startSluice, testConfig, type SluiceProcess } from '../helpers/sluice.js';
import { startGarbageHost, type GarbageHost } from '../helpers/garbage-host.js';
import { freePort } from '../helpers/ports.js';
import { message, send } from '../helpers/clients.js';
import { FileSpool } from '../../src/queue/file-spool.js';
import { readSpoolRecord, spoolIds } from '../helpers/spool-files.js';
import type { RcptState } from '../../src/queue/record.js';

const SENDER = 'john@contoso.com';
const ON_PREM = { name: 'On-prem IP', connectorType: 'OnPremises', senderDomains: ['*'], senderIPAddresses: ['127.0.0.2'] };

let certs: CertSet;
before(async () => {
  certs = await makeCertSet();
});

async function sendTo(sluice: SluiceProcess, rcpt: string, subject: string): Promise<string> {
  const info = await send({ port: sluice.port, localAddress: '127.0.0.2', from: SENDER, to: [rcpt], raw: message({ from: SENDER, to: rcpt, subject }) });
  const id = /queued as ([0-9A-F]+)/.exec(info.response)?.[1];
  assert.ok(id, info.response);
  return id;
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined> | T | null | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got) return got;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const readQueued = (sluice: SluiceProcess, id: string) => readSpoolRecord(path.join(sluice.dir, 'spool'), id);

/** Commits a message to the spool before the daemon starts, as a mail-flow rule would leave it. */
async function queue(spool: FileSpool, rcpt: string, route: RcptState['route'], subject: string, body = ''): Promise<string> {
  const id = spool.newId();
  const raw = Buffer.from(message({ from: SENDER, to: rcpt, subject }) + body);
  const now = Date.now();
  const w = await spool.create(id);
  await w.write(raw);
  await w.commit({
    v: 1,
    id,
    receivedAt: now,
    sessionId: 'test',
    client: { ip: '127.0.0.2', helo: 'test', tls: false, inbound: 'On-prem IP', matchedBy: 'ip' },
    mailFrom: SENDER,
    size: raw.length,
    status: 'active',
    attempts: 0,
    nextAttemptAt: now,
    rcpts: [{ address: rcpt, route, status: 'pending', attempts: 0, lastError: null, lastHost: null, updatedAt: now }],
  });
  return id;
}


/** A daemon started on a spool that already holds `fill`'s messages. */
async function startOnSpool(patch: Record<string, unknown>, fill: (spool: FileSpool) => Promise<void>): Promise<SluiceProcess> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-it-'));
  const port = await freePort();
  const configPath = path.join(dir, 'sluice.yaml');
  await writeFile(configPath, stringify(testConfig({ port, dir, certs, patch })));
  const spool = new FileSpool(path.join(dir, 'spool'), pino({ level: 'silent' }));
  await spool.open();
  await fill(spool);
  await spool.close();
  return launch(dir, configPath, port);
}

describe('a black-holing smart host', () => {
  const HOLE_WINDOW = 2;
  let sluice: SluiceProcess;
  let hole: GarbageHost;
  let good: SmartHost;

  before(async () => {
    hole = await startGarbageHost('black-hole');
    good = await startSmartHost();
    sluice = await startSluice({
      certs,
      patch: {
        inboundConnectors: [ON_PREM],
        outboundConnectors: [
          { name: 'Black hole', recipientDomains: ['hole.test'], smartHosts: [`127.0.0.1:${hole.port}`], maxConnections: HOLE_WINDOW },
          { name: 'Good', recipientDomains: ['good.test'], smartHosts: [`127.0.0.1:${good.port}`] },
        ],
      },
    });
  });

  after(async () => {
    await sluice?.kill();
    await Promise.all([hole?.close(), good?.close()]);
  });

  test("holds only its own connector's window while another connector's mail is delivered within seconds", async () => {
    for (let i = 0; i < 12; i++) await sendTo(sluice, `u${i}@hole.test`, `hole ${i}`);
    await until('the black hole holds its window', () => hole.open === HOLE_WINDOW);
    const started = Date.now();
    for (let i = 0; i < 3; i++) await sendTo(sluice, `u${i}@good.test`, `good ${i}`);
    await good.waitFor(3, 5_000);
    assert.ok(Date.now() - started < 5_000, `good mail took ${Date.now() - started} ms`);
    assert.equal(hole.maxOpen, HOLE_WINDOW, 'never more connections to the black hole than its window');
    assert.equal(hole.connections, HOLE_WINDOW, 'the other ten wait in their own queue, no connection');
  });

  test('a stop cuts the deliveries stuck on it after the grace period and keeps their messages queued', async () => {
    const started = Date.now();
    assert.equal(await sluice.stop(), 0);
    assert.ok(Date.now() - started < 20_000, `stopped in ${Date.now() - started} ms, not after the 300 s greeting timeout`);
    assert.equal(hole.open, 0, 'the stuck connections were closed');
    await sluice.waitForLog((l) => l.msg === 'cutting deliveries still in flight; their messages stay queued');
    assert.equal((await spoolIds(path.join(sluice.dir, 'spool'))).length, 12, 'all twelve still queued');
  });
});

describe('every host of a connector down', () => {
  const DOWN_MS = 4_000;
  let sluice: SluiceProcess;
  let a: SmartHost;
  let b: SmartHost;

  before(async () => {
    a = await startSmartHost({ onConnect: () => '421 4.3.2 Service not available' });
    b = await startSmartHost({ onConnect: () => '421 4.3.2 Service not available' });
    sluice = await startSluice({
      certs,
      patch: {
        inboundConnectors: [ON_PREM],
        delivery: { mxPort: 25, retry: { initial: '1s', max: '1s', lifetime: '1h' }, hostDownTime: `${DOWN_MS}ms` },
        outboundConnectors: [{ name: 'Pair', recipientDomains: ['pair.test'], smartHosts: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`] }],
      },
    });
  });

  after(async () => {
    await sluice?.stop();
    await Promise.all([a?.close(), b?.close()]);
  });

  test("defers the connector's messages without connecting until the first down-mark expires", async () => {
    await sendTo(sluice, 'first@pair.test', 'first');
    const marks = [
      await sluice.waitForLog((l) => l.msg === 'host marked down' && l.host === `127.0.0.1:${a.port}`),
      await sluice.waitForLog((l) => l.msg === 'host marked down' && l.host === `127.0.0.1:${b.port}`),
    ];
    const markTimes = marks.map((m) => Date.parse(String(m.time)));
    const firstExpiry = Math.min(...markTimes) + DOWN_MS;
    // The retry (1 s) comes due while both are down: deferred, not tried.
    const deferred = await sluice.waitForLog((l) => l.msg === 'all hosts down; destination deferred without connecting');
    assert.equal(deferred.destination, 'connector:Pair');
    for (let i = 0; i < 4; i++) await sendTo(sluice, `more${i}@pair.test`, `more ${i}`);
    const seen = a.connections.length + b.connections.length;
    assert.equal(seen, 2, 'one connection per host, the first attempt only');
    a.setBehaviour({ onConnect: undefined });
    b.setBehaviour({ onConnect: undefined });
    await until('all five delivered', () => a.messages.length + b.messages.length >= 5, 20_000);
    // Every connection after the first attempt (which marked both hosts down, one after the other).
    const later = [...a.connections, ...b.connections].filter((c) => c.opened > Math.max(...markTimes));
    assert.ok(later.length >= 1);
    for (const c of later) assert.ok(c.opened >= firstExpiry - 20, `a connection ${firstExpiry - c.opened} ms before the first down-mark expired`);
  });
});

describe('per-stage timeouts', () => {
  let sluice: SluiceProcess;
  const peers: Record<string, GarbageHost> = {};

  before(async () => {
    peers.silent = await startGarbageHost('black-hole');
    peers.rcpt = await startGarbageHost('stall-after-rcpt');
    peers.data = await startGarbageHost('stall-in-data');
    const to = (name: string, domain: string, p: GarbageHost) => ({ name, recipientDomains: [domain], smartHosts: [`127.0.0.1:${p.port}`] });
    sluice = await startSluice({
      certs,
      patch: {
        inboundConnectors: [ON_PREM],
        delivery: {
          mxPort: 25,
          retry: { initial: '1h', max: '1h', lifetime: '2h' },
          timeouts: { connect: '1s', greeting: '1s', command: '1s', dataInit: '1s', dataTransfer: '1s', dataDone: '1s' },
        },
        outboundConnectors: [to('Silent', 'silent.test', peers.silent), to('Stall after RCPT', 'rcpt.test', peers.rcpt), to('Stall in DATA', 'data.test', peers.data)],
      },
    });
  });

  after(async () => {
    await sluice?.stop();
    await Promise.all(Object.values(peers).map((p) => p.close()));
  });

  const cases = [
    { name: 'a host that never greets is cut by the greeting timeout', peer: 'silent', domain: 'silent.test', last: null, error: /^4\.4\.2 .*Greeting never received/ },
    { name: 'a host that stalls after RCPT is cut by the DATA command timeout', peer: 'rcpt', domain: 'rcpt.test', last: 'DATA', error: /^4\.4\.2 Timed out after 1 s waiting for the reply to DATA \(delivery\.timeouts\.dataInit\)/ },
    { name: 'a host that stalls during DATA is cut by the end-of-data timeout', peer: 'data', domain: 'data.test', last: 'DATA', error: /^4\.4\.2 Timed out after 1 s waiting for the reply after the end of DATA \(delivery\.timeouts\.dataDone\)/ },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const id = await sendTo(sluice, `x@${c.domain}`, c.name);
      const peer = peers[c.peer]!;
      const ended = await until('the connection ended', () => peer.ended[0]);
      assert.ok(ended.ms >= 900 && ended.ms < 4_000, `cut after ${ended.ms} ms`);
      assert.equal(ended.last, c.last, 'the stage it stalled in');
      if (c.peer === 'data') assert.ok(ended.dataBytes > 0, 'the message itself was sent');
      if (c.peer === 'rcpt') assert.deepEqual(peer.commands.map((l) => l.split(/[ :]/)[0]), ['EHLO', 'MAIL', 'RCPT', 'DATA']);
      const rec = await until('the deferral on record', async () => {
        const r = await readQueued(sluice, id);
        return r && r.rcpts[0]!.attempts >= 1 ? r : null;
      });
      assert.equal(rec.rcpts[0]!.status, 'pending');
      assert.match(rec.rcpts[0]!.lastError ?? '', c.error);
    });
  }
});

describe('a peer that stops reading the message', () => {
  let sluice: SluiceProcess;
  let peer: GarbageHost;
  let id: string;
  /** Far more than the loopback socket buffers take, so the sender's writes must stall. */
  const BODY = 'x'.repeat(998) + '\r\n';
  const LINES = 24_000;

  before(async () => {
    peer = await startGarbageHost('stop-reading-data');
    const patch = {
      delivery: { mxPort: 25, retry: { initial: '1h', max: '1h', lifetime: '2h' }, timeouts: { dataTransfer: '1s' } },
      outboundConnectors: [{ name: 'Slow reader', recipientDomains: ['contoso.com'], smartHosts: [`127.0.0.1:${peer.port}`] }],
    };
    sluice = await startOnSpool(patch, async (spool) => {
      id = await queue(spool, 'a@contoso.com', { kind: 'connector', connector: 'Slow reader', rule: 'exact:contoso.com' }, 'big', BODY.repeat(LINES));
    });
  });

  after(async () => {
    await sluice?.stop();
    await peer?.close();
  });

  test('is cut by the data-transfer timeout while the message is being written', async () => {
    // A paused peer cannot see the close, so the proof is the record and what the peer got.
    const rec = await until('the deferral on record', async () => {
      const r = await readQueued(sluice, id);
      return r && r.rcpts[0]!.attempts >= 1 ? r : null;
    }, 20_000);
    assert.match(rec.rcpts[0]!.lastError ?? '', /^4\.4\.2 Timed out after 1 s waiting for the peer to take more of the message after DATA \(delivery\.timeouts\.dataTransfer\)/);
    assert.deepEqual(peer.commands.map((l) => l.split(/[ :]/)[0]), ['EHLO', 'MAIL', 'RCPT', 'DATA']);
    assert.ok(peer.dataBytes > 0 && peer.dataBytes < BODY.length * LINES, `the peer read ${peer.dataBytes} bytes of the message`);
  });
});

describe('routes kept on the record', () => {
  let sluice: SluiceProcess;
  let scoped: SmartHost;
  let live: SmartHost;
  const ids: Record<string, string> = {};

  before(async () => {
    scoped = await startSmartHost();
    live = await startSmartHost();
    const patch = {
      delivery: { mxPort: 25, retry: { initial: '1h', max: '1h', lifetime: '2h' } },
      outboundConnectors: [
        { name: 'Scoped', isTransportRuleScoped: true, smartHosts: [`127.0.0.1:${scoped.port}`] },
        { name: 'Live', recipientDomains: ['contoso.com'], smartHosts: [`127.0.0.1:${live.port}`] },
      ],
    };
    sluice = await startOnSpool(patch, async (spool) => {
      ids.explicit = await queue(spool, 'a@contoso.com', { kind: 'connector', connector: 'Scoped', rule: 'rule:Route via Scoped', explicit: true }, 'explicit');
      ids.stale = await queue(spool, 'b@contoso.com', { kind: 'connector', connector: 'Removed connector', rule: 'exact:contoso.com' }, 'stale');
      ids.unknown = await queue(spool, 'c@contoso.com', { kind: 'connector', connector: 'Removed connector', rule: 'rule:gone', explicit: true }, 'unknown');
    });
  });

  after(async () => {
    await sluice?.stop();
    await Promise.all([scoped?.close(), live?.close()]);
  });

  test('an explicit route reaches an isTransportRuleScoped connector', async () => {
    const m = await arrivedFor(scoped, 'a@contoso.com');
    assert.match(m.raw.toString('latin1'), /Subject: explicit/);
    assert.equal(live.messages.filter((x) => x.rcptTo.includes('a@contoso.com')).length, 0);
  });

  test('a route that is not explicit is routed again on the live config', async () => {
    await arrivedFor(live, 'b@contoso.com');
    assert.equal(scoped.messages.filter((x) => x.rcptTo.includes('b@contoso.com')).length, 0);
  });

  test('an explicit route to a connector that is gone is deferred, not re-routed', async () => {
    const rec = await until('the deferral on record', async () => {
      const r = await readQueued(sluice, ids.unknown!);
      return r && r.rcpts[0]!.attempts >= 1 ? r : null;
    });
    assert.match(rec.rcpts[0]!.lastError ?? '', /^4\.4\.0 explicit route to connector Removed connector, which is not configured/);
    assert.equal([...scoped.messages, ...live.messages].filter((x) => x.rcptTo.includes('c@contoso.com')).length, 0);
  });
});
