// The worker thread that owns the trace database: the daemon's main thread posts batches of
// tracking events, this thread writes each in one transaction and answers written/failed, so a
// slow disk or a big prune never stalls an SMTP session.
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteTraceStore } from './sqlite-trace-store.js';

export interface TraceWorkerData {
  path: string;
  includeSubject: boolean;
}
export type ToWorker = { type: 'write'; seq: number; batch: string } | { type: 'prune'; seq: number; before: number } | { type: 'close'; seq: number };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'open-failed'; error: string }
  | { type: 'written'; seq: number; rows: number }
  | { type: 'pruned'; seq: number; rows: number }
  | { type: 'failed'; seq: number; op: 'write' | 'prune'; error: string };

const port = parentPort!;
const data = workerData as TraceWorkerData;
let store: SqliteTraceStore | null = null;
try {
  store = new SqliteTraceStore(data.path, { includeSubject: data.includeSubject });
  port.postMessage({ type: 'ready' } satisfies FromWorker);
} catch (err) {
  port.postMessage({ type: 'open-failed', error: (err as Error).message } satisfies FromWorker);
}

port.on('message', (m: ToWorker) => {
  if (m.type === 'close') {
    // Checkpoints the WAL into the database file; the thread then ends with its port.
    store?.close();
    store = null;
    port.close();
    return;
  }
  if (!store) {
    port.postMessage({ type: 'failed', seq: m.seq, op: m.type, error: 'trace store not open' } satisfies FromWorker);
    return;
  }
  try {
    if (m.type === 'write') {
      const rows = store.writeSync(JSON.parse(m.batch) as Parameters<SqliteTraceStore['writeSync']>[0]);
      port.postMessage({ type: 'written', seq: m.seq, rows } satisfies FromWorker);
    } else {
      port.postMessage({ type: 'pruned', seq: m.seq, rows: store.pruneSync(m.before) } satisfies FromWorker);
    }
  } catch (err) {
    port.postMessage({ type: 'failed', seq: m.seq, op: m.type, error: (err as Error).message } satisfies FromWorker);
  }
});
