// Registers track()'s three sinks for a running daemon (log, metrics, trace store) and removes
// them at stop. A trace store that cannot be opened does not stop the gateway: mail flows, the
// failure is logged, counted and shown by /readyz (status.traceWritable). In cluster mode with a
// PostgreSQL URL the trace is the shared one, written through this replica's local outbox.
import path from 'node:path';
import type { Cluster } from '../cluster/cluster.js';
import { PgTraceStore } from '../cluster/pg-trace-store.js';
import { OUTBOX_FILE, TraceOutbox } from '../cluster/trace-outbox.js';
import type { Model } from '../domain/model.js';
import type { Logger } from './log.js';
import { addSink } from './events.js';
import { logSink } from './log-sink.js';
import { metricsSink, noteTraceWriteFailures, setQueueDepthSource, type QueueDepthRow } from './metrics.js';
import { status } from './status.js';
import { TraceSink } from './trace-sink.js';

export interface Sinks {
  trace: TraceSink | null;
  outbox: TraceOutbox | null;
  stop(): Promise<void>;
}

/** The shared trace: events to the outbox in the spool directory (its lock makes this replica its only writer). */
function openOutbox(model: Model, cluster: Cluster, log: Logger): TraceOutbox {
  const { trace } = model;
  const store = new PgTraceStore({ pool: cluster.pg!, nodeId: cluster.nodeId, includeSubject: trace.includeSubject, retentionMs: trace.retentionMs });
  const outbox = new TraceOutbox({ file: path.join(model.spool.dir, OUTBOX_FILE), store, state: cluster.pgState!, log, retentionMs: trace.retentionMs });
  outbox.start();
  return outbox;
}

export async function startSinks(getModel: () => Model, log: Logger, queueDepth: () => readonly QueueDepthRow[], cluster: Cluster | null = null): Promise<Sinks> {
  const removers = [addSink(logSink(log, { includeSubject: () => getModel().trace.includeSubject })), addSink(metricsSink)];
  setQueueDepthSource(queueDepth);
  const { trace } = getModel();
  let sink: TraceSink | null = null;
  let outbox: TraceOutbox | null = null;
  if (trace.enabled && cluster?.pg) {
    try {
      outbox = openOutbox(getModel(), cluster, log);
      removers.push(addSink(outbox.sink));
      status.traceWritable = true;
      log.info({ stage: 'trace', store: 'postgres', outbox: path.join(getModel().spool.dir, OUTBOX_FILE), pending: outbox.pending, retentionMs: trace.retentionMs }, 'shared trace store: events go through the local outbox to PostgreSQL');
    } catch (err) {
      status.traceWritable = false;
      log.error({ stage: 'trace', code: 'E_TRACE_OPEN', err: (err as Error).message }, 'trace outbox cannot be opened; mail flows without a message trace');
    }
  } else if (trace.enabled) {
    try {
      sink = await TraceSink.open({ path: trace.path, includeSubject: trace.includeSubject, retentionMs: trace.retentionMs, log, onWriteFailure: noteTraceWriteFailures });
      removers.push(addSink(sink.sink));
      status.traceWritable = true;
      log.info({ stage: 'trace', path: trace.path, retentionMs: trace.retentionMs }, 'trace store open');
    } catch (err) {
      status.traceWritable = false;
      log.error({ stage: 'trace', code: 'E_TRACE_OPEN', path: trace.path, err: (err as Error).message }, 'trace store cannot be opened; mail flows without a message trace');
    }
  }
  return {
    trace: sink,
    outbox,
    async stop() {
      await sink?.close();
      await outbox?.close();
      for (const remove of removers) remove();
      setQueueDepthSource(() => []);
    },
  };
}
