// Measures the message trace store through the real sink path (TraceSink on the main thread →
// worker thread → SQLite): 1,000,000 tracking events at a realistic mix, then a search by
// recipient. Reports events/s, the main thread's cost per event (time spent inside track()'s
// sink, which is synchronous, so wall time there is main-thread CPU), the database size and the
// search time. Run: npm run build && node dist/bench/trace-store.js [events]
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { MessageChannel } from 'node:worker_threads';
import { TraceSink } from '../src/observe/trace-sink.js';
import { SqliteTraceStore } from '../src/observe/sqlite-trace-store.js';
import { createLogger } from '../src/observe/log.js';
import type { TimedEvent } from '../src/observe/trace-store.js';

const EVENTS = Number(process.argv[2] ?? 1_000_000);
const RECIPIENTS = 20_000;
const SENDERS = 5_000;
/** Keep at most this many events posted and unanswered, as a steady daemon would. */
const SETTLE_EVERY = 20_000;

/** One message's events: receipt, sometimes a deferral first, delivery or a bounce with its DSN; a few refusals at RCPT. */
function* messageEvents(n: number, t: number): Generator<TimedEvent> {
  const sender = `user${n % SENDERS}@fabrikam.com`;
  const rcpts = n % 4 === 0 ? [`r${n % RECIPIENTS}@contoso.com`, `r${(n * 7) % RECIPIENTS}@contoso.com`] : [`r${n % RECIPIENTS}@contoso.com`];
  const queueId = `Q${n.toString(16).padStart(12, '0')}`;
  const common = { queueId, sessionId: `s${n}`, messageId: `${n}.${t}@mail.fabrikam.com`, sender, subject: `Invoice ${n} for your order`, size: 4_000 + (n % 50_000), clientIp: '203.0.113.7', inbound: n % 3 ? null : 'From partner' };
  if (n % 20 === 0) {
    yield { ...common, queueId: null, kind: 'REJECT', time: t, recipients: [`x${n % RECIPIENTS}@fabrikam.test`], reply: '550 5.4.1 Relay Access Denied', reason: 'relay: anonymous sender to a domain that is not accepted', detail: { stage: 'rcpt' } };
    return;
  }
  yield { ...common, kind: 'RECEIVE', time: t, recipients: rcpts, reason: 'anonymous: no connector matched', detail: { tls: true } };
  for (const r of rcpts) {
    const hop = { outbound: 'To on-prem', rule: 'accepted-domain', remoteHost: 'mail.contoso.com', remoteIp: '10.0.0.5:25' };
    if (n % 10 === 1) yield { ...common, ...hop, kind: 'DEFER', time: t + 1, recipients: [r], reply: '451 4.7.1 Greylisted, try again later', detail: { status: '4.7.1' } };
    if (n % 50 === 3) {
      yield { ...common, ...hop, kind: 'FAIL', time: t + 2, recipients: [r], reply: '550 5.1.1 User unknown', detail: { status: '5.1.1' } };
      yield { ...common, kind: 'DSN', time: t + 2, recipients: [r], reason: 'DSN to sender' };
    } else {
      yield { ...common, ...hop, kind: 'DELIVER', time: t + 2, recipients: [r], reply: '250 2.0.0 Ok: queued as ABC', detail: { status: '2.0.0', latencyMs: 40 } };
    }
  }
}

/**
 * The main thread's share alone, in CPU time: the same events buffered, serialised and posted in
 * batches as TraceSink does, to a port nobody reads, so no database work is in the process's CPU
 * count. (process.cpuUsage counts every thread; Node 20 has no per-thread figure.)
 */
function mainThreadCpu(t0: number): number {
  const { port1, port2 } = new MessageChannel();
  const n = Math.min(EVENTS, 200_000);
  const events: TimedEvent[] = [];
  for (let m = 0; events.length < n; m++) for (const e of messageEvents(m, t0 + m)) events.push(e);
  const c0 = process.cpuUsage();
  let buffer: TimedEvent[] = [];
  for (const e of events.slice(0, n)) {
    buffer.push(e);
    if (buffer.length >= 2_000) {
      port1.postMessage({ type: 'write', seq: 0, batch: JSON.stringify(buffer) });
      buffer = [];
    }
  }
  const c = process.cpuUsage(c0);
  port1.close();
  port2.close();
  return Number(((c.user + c.system) / n).toFixed(2));
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-trace-bench-'));
  const file = path.join(dir, 'trace.db');
  let failures = 0;
  const sink = await TraceSink.open({ path: file, includeSubject: true, retentionMs: 90 * 86_400_000, log: createLogger('warn'), onWriteFailure: (n) => (failures += n) });
  const t0 = Date.now() - 86_400_000;
  let written = 0;
  let inSink = 0;
  let rows = 0;
  const start = performance.now();
  for (let n = 0; written < EVENTS; n++) {
    for (const e of messageEvents(n, t0 + n)) {
      const a = performance.now();
      sink.sink(e);
      inSink += performance.now() - a;
      rows += Math.max(1, e.recipients.length);
      if (++written % SETTLE_EVERY === 0) await sink.settled();
      if (written >= EVENTS) break;
    }
  }
  await sink.settled();
  const seconds = (performance.now() - start) / 1000;
  await sink.close();
  const size = (await stat(file)).size + (await stat(`${file}-wal`).catch(() => ({ size: 0 }))).size;

  const mainCpu = mainThreadCpu(t0);
  const reader = new SqliteTraceStore(file, { readonly: true });
  const who = `r${RECIPIENTS / 2 + 17}@contoso.com`;
  const q0 = performance.now();
  const found = await reader.query({ recipient: who });
  const searchMs = performance.now() - q0;
  const q1 = performance.now();
  const bySender = await reader.query({ sender: `user${SENDERS / 2}@fabrikam.com`, since: t0, until: t0 + 86_400_000 });
  const senderMs = performance.now() - q1;
  await reader.close();
  const report = {
    events: written,
    rows,
    seconds: Number(seconds.toFixed(2)),
    eventsPerSecond: Math.round(written / seconds),
    mainThreadWallMicrosecondsPerEventUnderLoad: Number(((inSink * 1000) / written).toFixed(2)),
    mainThreadCpuMicrosecondsPerEvent: mainCpu,
    writeFailures: failures,
    dbBytes: size,
    dbMB: Number((size / 1024 / 1024).toFixed(1)),
    searchByRecipient: { recipient: who, rows: found.length, messages: new Set(found.map((r) => r.queueId ?? r.sessionId)).size, ms: Number(searchMs.toFixed(1)) },
    searchBySender: { rows: bySender.length, ms: Number(senderMs.toFixed(1)) },
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  await rm(dir, { recursive: true, force: true });
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
