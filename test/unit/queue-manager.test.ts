// The queue manager's shell on a manual clock (no real waiting) with a scripted deliverer and a real
// spool in a temp dir: retries at the backoff and expiry at the lifetime, per-destination windows,
// a dead destination that holds only its own jobs, and one message split over two destinations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { QueueManager, type DestinationDeliverer } from '../../src/queue/scheduler.js';
import { FileSpool } from '../../src/queue/file-spool.js';
import type { SpoolRecord } from '../../src/queue/record.js';
import type { RcptOutcome } from '../../src/delivery/deliver.js';
import type { DestinationGroup } from '../../src/delivery/destinations.js';
import type { Outcome } from '../../src/delivery/outcome.js';
import { buildModel } from '../helpers/model-builder.js';
import { ManualClock } from '../helpers/manual-clock.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 1);
const log = pino({ level: 'silent' });
const model = buildModel({
  acceptedDomains: ['contoso.com', 'fabrikam.com'],
  outboundConnectors: [
    { name: 'Onprem', recipientDomains: ['contoso.com'], smartHosts: ['10.0.0.1:25'], maxConnections: 2 },
    { name: 'Partner', recipientDomains: ['fabrikam.com'], smartHosts: ['10.0.0.2:25'] },
  ],
  delivery: { retry: { initialMs: 5 * MIN, maxMs: 60 * MIN, lifetimeMs: 120 * MIN } },
});

const DEFER: Outcome = { action: 'defer', rule: '4xx-at-RCPT TO', status: '4.2.0', diagnostic: '450 4.2.0 busy' };
const OK: Outcome = { action: 'delivered', rule: 'accepted', status: '2.0.0', diagnostic: '250 ok' };

/** A scripted deliverer: records each call (destination, time), answers per destination. */
class Script implements DestinationDeliverer {
  calls: { key: string; at: number; rcpts: string[] }[] = [];
  running = 0;
  peak = 0;
  down = new Map<string, number>();
  gate: Promise<void> | null = null;
  constructor(
    private readonly clock: ManualClock,
    private readonly answer: (key: string) => Outcome = () => DEFER,
  ) {}
  async deliverGroup(_r: SpoolRecord, _b: unknown, g: DestinationGroup): Promise<RcptOutcome[]> {
    this.calls.push({ key: g.destination.key, at: this.clock.now(), rcpts: g.rcpts });
    this.peak = Math.max(this.peak, ++this.running);
    if (this.gate) await this.gate;
    this.running--;
    return g.rcpts.map((address) => ({ address, connector: g.destination.key, host: '10.0.0.1:25', outcome: this.answer(g.destination.key) }));
  }
  downUntil(key: string, now: number) {
    const until = this.down.get(key);
    return until !== undefined && until > now ? { until, reason: '421 test' } : null;
  }
}

async function setup(answer?: (key: string) => Outcome) {
  const spool = new FileSpool(await mkdtemp(path.join(tmpdir(), 'sluice-qm-')), log);
  await spool.open();
  const clock = new ManualClock(T0);
  const script = new Script(clock, answer);
  const q = new QueueManager(spool, script, () => model, log, clock);
  q.start();
  const submit = async (rcpts: string[]): Promise<string> => {
    const id = spool.newId();
    const w = await spool.create(id);
    await w.write(Buffer.from('Subject: t\r\n\r\nbody\r\n'));
    const rec: SpoolRecord = {
      v: 1, id, receivedAt: clock.now(), sessionId: 's', client: { ip: '', helo: '', tls: false, inbound: null, matchedBy: null },
      mailFrom: '', size: w.bytes, status: 'active', attempts: 0, nextAttemptAt: clock.now(),
      rcpts: rcpts.map((address) => ({ address, route: { kind: 'connector', connector: null, rule: '' }, status: 'pending', attempts: 0, lastError: null, lastHost: null, updatedAt: clock.now() })),
    };
    await w.commit(rec);
    q.enqueue(rec);
    return id;
  };
  /** Moves the clock and lets the rounds it started finish. */
  const advance = async (ms: number) => {
    clock.advance(ms);
    await q.settled();
  };
  return { spool, clock, script, q, submit, advance };
}

test('a deferred message is retried at 5, 15, 35 and 75 minutes and expires at its 120-minute lifetime', async () => {
  const { spool, script, q, submit, advance } = await setup();
  const id = await submit(['a@contoso.com']);
  await q.settled();
  for (let i = 0; i < 24; i++) await advance(5 * MIN);
  assert.deepEqual(script.calls.map((c) => (c.at - T0) / MIN), [0, 5, 15, 35, 75, 120]);
  assert.equal(await spool.readRecord(id), null, 'gone from the queue');
  const failed = await spool.readRecord(id, 'failed');
  assert.match(failed?.rcpts[0]?.lastError ?? '', /^4\.4\.7 .*QUEUE\.Expired.*LED=450 4\.2\.0 busy/);
  assert.equal(failed?.attempts, 6);
  await q.stop();
});

test('a deferred message costs an index entry and one shared timer, no timer of its own', async () => {
  const { clock, q, submit } = await setup();
  for (let i = 0; i < 20; i++) await submit([`u${i}@fabrikam.com`]);
  await q.settled();
  assert.equal(q.size, 20);
  assert.equal(clock.pending, 1, 'one timer for the whole queue');
  await q.stop();
});

test("a destination runs at most its window (the connector's maxConnections) at once", async () => {
  const { script, q, submit } = await setup();
  let open!: () => void;
  script.gate = new Promise((r) => (open = r));
  for (let i = 0; i < 6; i++) await submit([`u${i}@contoso.com`]);
  for (let i = 0; i < 3; i++) await submit([`p${i}@fabrikam.com`]);
  await new Promise((r) => setImmediate(r));
  assert.equal(script.calls.filter((c) => c.key === 'connector:Onprem').length, 2, 'Onprem: 2 of 6 started');
  assert.equal(script.calls.filter((c) => c.key === 'connector:Partner').length, 3, 'Partner is not held back');
  open();
  await q.settled();
  assert.equal(script.calls.filter((c) => c.key === 'connector:Onprem').length, 6);
  await q.stop();
});

test('a dead destination is deferred without delivery until its first down-mark expires; the other is delivered', async () => {
  const { script, q, submit, advance } = await setup((key) => (key === 'connector:Partner' ? OK : DEFER));
  script.down.set('connector:Onprem', T0 + 3 * MIN);
  await submit(['a@contoso.com']);
  await submit(['b@fabrikam.com']);
  await q.settled();
  assert.deepEqual(script.calls.map((c) => c.key), ['connector:Partner']);
  await advance(3 * MIN - 1);
  assert.equal(script.calls.length, 1, 'still nothing tried for Onprem');
  await advance(1);
  assert.deepEqual(script.calls.map((c) => [c.key, (c.at - T0) / MIN]), [['connector:Partner', 0], ['connector:Onprem', 3]]);
  await q.stop();
});

test('a message for two destinations becomes two jobs whose outcomes land in one record', async () => {
  const { spool, script, q, submit } = await setup((key) => (key === 'connector:Partner' ? OK : DEFER));
  const id = await submit(['a@contoso.com', 'b@fabrikam.com']);
  await q.settled();
  assert.deepEqual(script.calls.map((c) => c.key).sort(), ['connector:Onprem', 'connector:Partner']);
  const rec = await spool.readRecord(id);
  assert.deepEqual(rec?.rcpts.map((r) => [r.address, r.status]), [['a@contoso.com', 'pending'], ['b@fabrikam.com', 'delivered']]);
  assert.equal(rec?.attempts, 1, 'one round, one attempt');
  assert.equal(rec?.nextAttemptAt, T0 + 5 * MIN);
  await q.stop();
});
