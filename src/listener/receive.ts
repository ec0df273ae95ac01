// DATA: streams the message into the spool (our Received header goes with the record), refuses bare
// CR/LF (554 5.6.11) and oversized messages (552 5.3.4), and resolves with the committed record
// only once it is on disk. Storage failures answer 4xx (452 4.3.1 when the disk is full).
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { Model } from '../domain/model.js';
import type { Spool, MessageWriter } from '../queue/spool.js';
import type { SpoolRecord, RcptState } from '../queue/record.js';
import type { Logger } from '../observe/log.js';
import type { SessionState } from './server.js';
import { BareNewlineDetector } from './bare-newline.js';
import { receivedHeader } from './received-header.js';
import { replyError, type SmtpReplyError } from './replies.js';
import { contentStage, HEADER_VIEW_MAX_BYTES } from './filter-stage.js';
import { HeaderBlockCollector } from '../filters/header-block.js';
import type { Pipeline } from '../filters/pipeline.js';
import type { Stored } from '../filters/store.js';
import { track } from '../observe/events.js';
import { traceFieldsOf } from '../observe/header-fields.js';

export interface ReceiveDeps {
  model: Model;
  spool: Spool;
  log: Logger;
  pipeline: Pipeline;
}

function storageError(err: unknown) {
  const code = (err as { cause?: NodeJS.ErrnoException }).cause?.code ?? (err as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT'
    ? replyError(452, '4.3.1', 'Insufficient system storage, try again later')
    : replyError(451, '4.3.0', 'Local error in processing, try again later');
}

/** Reads the stream to its end whatever happens: smtp-server waits for it before the next command. */
async function drain(stream: SMTPServerDataStream): Promise<void> {
  for await (const _ of stream) void _;
}

export async function receiveMessage(
  deps: ReceiveDeps,
  stream: SMTPServerDataStream,
  session: SMTPServerSession,
  st: SessionState,
): Promise<Stored> {
  const { spool, log, model } = deps;
  const id = spool.newId();
  const rcpts = session.envelope.rcptTo.map((r) => r.address);
  const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
  let body: MessageWriter;
  try {
    body = await spool.create(id);
  } catch (err) {
    await drain(stream);
    log.error({ stage: 'spool', sessionId: session.id, queueId: id, err: (err as Error).message }, 'spool open failed');
    throw storageError(err);
  }
  const guard = new BareNewlineDetector();
  // The header block is parsed once from the bytes as they arrive (not read back from disk): the
  // trace's Message-ID and Subject come from it, and so does the filters' header view.
  const block = new HeaderBlockCollector(HEADER_VIEW_MAX_BYTES);
  let writeError: unknown = null;
  const header = receivedHeader({
    helo: session.hostNameAppearsAs || session.clientHostname || '',
    ip: session.remoteAddress,
    hostname: model.server.hostname,
    tls: session.secure,
    cipher: session.tlsOptions ? session.tlsOptions.name : null,
    queueId: id,
    connector: st.cls.connector?.name ?? null,
    matchedBy: st.cls.matchedBy,
    proxy: st.proxiedBy ?? null,
    singleRcpt: rcpts.length === 1 ? (rcpts[0] ?? null) : null,
    date: new Date(),
  });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      guard.scan(chunk);
      block.push(chunk);
      if (writeError || guard.found || stream.sizeExceeded) continue; // keep reading, stop writing
      try {
        await body.write(chunk);
      } catch (err) {
        writeError = err;
      }
    }
  } catch (err) {
    // The client went away mid-DATA (reset, idle timeout): smtp-server destroys the stream. Without
    // this the open spool file and its .tmp would leak for every abandoned message.
    await body.abort();
    log.info({ stage: 'receive', sessionId: session.id, queueId: id, reason: `data stream: ${(err as Error).message}` }, 'message abandoned');
    throw replyError(451, '4.3.0', 'Message transfer aborted');
  }
  const parsed = block.block();
  const { messageId, subject } = traceFieldsOf(parsed.fields);
  const event = {
    queueId: id,
    sessionId: session.id,
    messageId,
    sender: mailFrom,
    recipients: rcpts,
    subject: model.trace.includeSubject ? subject : null,
    clientIp: session.remoteAddress,
    inbound: st.cls.connector?.name ?? null,
  };
  const refuse = async (err: Error & { responseCode?: number }, reason: string) => {
    await body.abort();
    track({ ...event, kind: 'REJECT', size: body.bytes, reply: `${err.responseCode ?? 451} ${err.message}`, reason, detail: { stage: 'data' } });
    return err;
  };
  if (stream.sizeExceeded) {
    throw await refuse(replyError(552, '5.3.4', 'Message size exceeds fixed maximum message size'), 'too big');
  }
  if (guard.end()) {
    throw await refuse(replyError(554, '5.6.11', 'Bare CR or LF characters are not allowed; use CRLF line endings'), 'bare newline');
  }
  if (writeError) {
    throw await refuse(storageError(writeError), `storage: ${(writeError as Error).message}`);
  }
  const now = Date.now();
  const record: SpoolRecord = {
    v: 1,
    id,
    receivedAt: now,
    sessionId: session.id,
    client: {
      ip: session.remoteAddress,
      helo: session.hostNameAppearsAs || '',
      tls: session.secure,
      inbound: st.cls.connector?.name ?? null,
      matchedBy: st.cls.matchedBy,
    },
    mailFrom,
    messageId,
    subject: event.subject,
    size: body.bytes,
    status: 'active',
    attempts: 0,
    nextAttemptAt: now,
    ...(session.envelope.dsn ? { dsn: { ret: session.envelope.dsn.ret, envid: session.envelope.dsn.envid } } : {}),
    // Our Received: line is stored with the record and put in front at every read, so the
    // stored bytes are exactly what the client sent.
    headers: header,
    rcpts: rcpts.map((address): RcptState => {
      const d = st.decisions.get(address);
      const route = d?.route;
      return {
        // A verified SRS address is delivered to the sender it stands for.
        address: d?.deliverTo ?? address,
        route: {
          kind: route?.kind ?? 'unknown',
          connector: route && route.kind === 'connector' ? route.connector.name : null,
          rule: route?.rule ?? '',
        },
        status: 'pending',
        attempts: 0,
        lastError: null,
        lastHost: null,
        updatedAt: now,
        ...(d?.dsn?.notify ? { notify: d.dsn.notify } : {}),
        ...(d?.dsn?.orcpt ? { orcpt: d.dsn.orcpt } : {}),
      };
    }),
  };
  // The filters run on the written copy and their plan is committed (queue, quarantine, split,
  // drop) before the 250; a filter's refusal is the reply and nothing stays on disk.
  let stored: Stored;
  try {
    stored = await contentStage(deps, body, record, session, st, () => parsed);
  } catch (err) {
    const reply = err as SmtpReplyError;
    if (reply.responseCode) {
      // A filter's refusal: the sending server gets it (and writes the NDR); the trace shows Failed.
      track({ ...event, kind: 'REJECT', size: record.size, reply: `${reply.responseCode} ${reply.message}`, reason: 'refused by the filter pipeline', detail: { stage: 'filters' } });
      throw err;
    }
    await body.abort();
    log.error({ stage: 'spool', sessionId: session.id, queueId: id, err: (err as Error).message }, 'spool commit failed');
    throw storageError(err);
  }
  // Stamped with the time DATA ended, so it sorts before the FILTER events of the same message.
  track({ ...event, kind: 'RECEIVE', time: now, size: record.size, reason: st.cls.reason, detail: { tls: session.secure } });
  return stored;
}
