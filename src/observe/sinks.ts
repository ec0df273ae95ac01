// Registers track()'s three sinks for a running daemon (log, metrics, trace store) and removes
// them at stop. A trace store that cannot be opened does not stop the gateway: mail flows, the
// failure is logged, counted and shown by /readyz (status.traceWritable).
import type { Model } from '../domain/model.js';
import type { Logger } from './log.js';
import { addSink } from './events.js';
import { logSink } from './log-sink.js';
import { metricsSink, noteTraceWriteFailures, setQueueDepthSource, type QueueDepthRow } from './metrics.js';
import { status } from './status.js';
import { TraceSink } from './trace-sink.js';

export interface Sinks {
  trace: TraceSink | null;
  stop(): Promise<void>;
}

export async function startSinks(getModel: () => Model, log: Logger, queueDepth: () => readonly QueueDepthRow[]): Promise<Sinks> {
  const removers = [addSink(logSink(log, { includeSubject: () => getModel().trace.includeSubject })), addSink(metricsSink)];
  setQueueDepthSource(queueDepth);
  const { trace } = getModel();
  let sink: TraceSink | null = null;
  if (trace.enabled) {
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
    async stop() {
      await sink?.close();
      for (const remove of removers) remove();
      setQueueDepthSource(() => []);
    },
  };
}
