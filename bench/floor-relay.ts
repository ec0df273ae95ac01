// The floor under Sluice's CPU per message: the thinnest durable relay that can be built from the
// pieces Sluice stands on, with none of Sluice's own work. smtp-server receives (through Sluice's
// own subclass, so it greets at once as Sluice does), the message goes to one file per message
// with the same fsyncs before the 250 (file and directory, renamed first, the directory descriptor
// kept open), nodemailer's pool delivers it from memory to the smart host over reused
// connections, and the file is unlinked. No classification, policy, filters, records, queue
// manager, trace, metrics or logs; a failed delivery is only printed (the bench sees it as a
// message missing at the sink), since nothing here retries.
//
// It is the bench's systems `floor` (one thread) and `floor-thread` (nodemailer on a worker
// thread, BENCH_FLOOR_SEND_THREAD=1), e.g. BENCH_SYSTEMS=ceiling,postfix,sluice,floor,floor-thread:
// what they reach is about the most a relay built on these libraries in one Node process can reach
// on the machine, and Sluice's CPU per message minus theirs is what Sluice's own logic costs.
//
//   node dist/bench/floor-relay.js <listen port> <smart host port> <spool dir>
//   (BENCH_FLOOR_SPOOL=log: one append-only log with group commit instead of a file per message)
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { SluiceSmtpServer } from '../src/listener/connection.js';
import { closeFd, fsyncFd, openFd, rename, writeAll } from '../src/queue/spool-io.js';

const [port, sinkPort, dir] = isMainThread ? [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]!] : [0, (workerData as { sinkPort: number }).sinkPort, ''];
const SESSIONS_OUT = 20; // as the bench's Sluice connector (maxConnections: 20)

const pool = () => nodemailer.createTransport({ pool: true, maxConnections: SESSIONS_OUT, maxMessages: 1000, host: '127.0.0.1', port: sinkPort, secure: false, ignoreTLS: true });
let counter = 0;

interface Job {
  n: number;
  envelope: { from: string; to: string[] };
  body: Uint8Array;
}

/**
 * BENCH_FLOOR_SEND_THREAD=1: nodemailer runs on a worker thread, as Sluice's delivery thread does
 * (the body is copied once into a transferred buffer, as Sluice's 64 KB posts are).
 */
function sender(): (job: Job) => Promise<void> {
  if (process.env.BENCH_FLOOR_SEND_THREAD !== '1') {
    const transport = pool();
    return (job) => transport.sendMail({ envelope: job.envelope, raw: Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength) }).then(() => undefined);
  }
  const worker = new Worker(new URL(import.meta.url), { workerData: { sinkPort } });
  const waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  worker.on('message', (m: { n: number; error?: string }) => {
    const w = waiting.get(m.n)!;
    waiting.delete(m.n);
    if (m.error) w.reject(new Error(m.error));
    else w.resolve();
  });
  return (job) =>
    new Promise((resolve, reject) => {
      waiting.set(job.n, { resolve, reject });
      const copy = new Uint8Array(job.body.byteLength);
      copy.set(job.body);
      worker.postMessage({ ...job, body: copy }, [copy.buffer]);
    });
}

if (!isMainThread) {
  const transport = pool();
  parentPort!.on('message', (job: Job) => {
    transport.sendMail({ envelope: job.envelope, raw: Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength) }).then(
      () => parentPort!.postMessage({ n: job.n }),
      (err: Error) => parentPort!.postMessage({ n: job.n, error: err.message }),
    );
  });
}

/** Durable before the callback: write ‖ rename, then the file's ‖ the directory's fsync (the spool's own calls, spool-io.ts). */
async function store(id: string, body: Buffer): Promise<string> {
  const tmp = path.join(dir, `${id}.tmp`);
  const final = path.join(dir, `${id}.msg`);
  const fd = await openFd(tmp, 'w', 0o640);
  await Promise.all([writeAll(fd, body), rename(tmp, final)]);
  await Promise.all([fsyncFd(fd), fsyncFd(dirFd)]);
  closeFd(fd, () => undefined);
  return final;
}

// BENCH_FLOOR_SPOOL=log: every message appended to one log file, made durable by an fsync that
// started after its write (one fsync serves every write that finished before it began: group
// commit), and forgotten by a tombstone appended later without an fsync. Measures what a
// log-structured spool would save against one file per message (open, rename, two fsyncs, close,
// unlink).
const LOG = process.env.BENCH_FLOOR_SPOOL === 'log';
let logFd = -1;
let logPos = 0;
let syncing: Promise<void> | null = null;
let queuedSync: Promise<void> | null = null;
function groupSync(): Promise<void> {
  if (!syncing) {
    syncing = fsyncFd(logFd).finally(() => (syncing = null));
    return syncing;
  }
  queuedSync ??= syncing.then(() => {
    queuedSync = null;
    return groupSync();
  });
  return queuedSync;
}
const pwrite = (buf: Buffer, at: number) => new Promise<void>((res, rej) => fs.write(logFd, buf, 0, buf.length, at, (e) => (e ? rej(e) : res())));
async function storeLog(body: Buffer): Promise<number> {
  const head = Buffer.allocUnsafe(8);
  head.writeUInt32BE(body.length, 0);
  head.writeUInt32BE(0x5a5a5a5a, 4);
  const at = logPos;
  logPos += 8 + body.length;
  await pwrite(Buffer.concat([head, body]), at);
  await groupSync();
  return at;
}
let tombs: Buffer[] = [];
let tombTimer: NodeJS.Timeout | null = null;
function forget(at: number): void {
  const t = Buffer.allocUnsafe(8);
  t.writeUInt32BE(at >>> 0, 0);
  t.writeUInt32BE(0xdeaddead, 4);
  tombs.push(t);
  tombTimer ??= setTimeout(() => {
    tombTimer = null;
    const all = Buffer.concat(tombs);
    tombs = [];
    const pos = logPos;
    logPos += all.length;
    void pwrite(all, pos);
  }, 10);
}

function onData(stream: SMTPServerDataStream, session: SMTPServerSession, cb: (err?: Error | null) => void): void {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => {
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    const envelope = { from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address) };
    const n = ++counter;
    (LOG ? storeLog(body) : store(`${process.pid}-${n}`, body)).then(
      (file) => {
        cb();
        send({ n, envelope, body }).then(
          () => (typeof file === 'number' ? forget(file) : fs.unlink(file, () => undefined)),
          // The bench counts at the sink: a failure shows there as a missing message.
          (err: Error) => console.error(`delivery failed: ${err.message}`),
        );
      },
      (err: Error) => cb(Object.assign(new Error('Local error in processing'), { responseCode: 451, cause: err })),
    );
  });
}

let dirFd = -1;
let send: (job: Job) => Promise<void>;
if (isMainThread) {
  fs.mkdirSync(dir, { recursive: true });
  dirFd = fs.openSync(dir, 'r');
  if (LOG) {
    logFd = fs.openSync(path.join(dir, 'spool.log'), 'w', 0o640);
    fs.fsyncSync(dirFd);
  }
  send = sender();
  const server = new SluiceSmtpServer(
    { disableReverseLookup: true, authOptional: true, disabledCommands: ['AUTH', 'STARTTLS'], logger: false, size: 200 * 1024 * 1024, onData },
    { greetingDelayMs: () => 0 },
  );
  server.listen(port, '127.0.0.1');
  process.on('SIGTERM', () => process.exit(0));
}
