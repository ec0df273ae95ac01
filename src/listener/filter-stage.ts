// The listener's side of the protection pipeline: the session facts filters see, the connection
// stage before MAIL FROM is accepted (once per session, again after STARTTLS re-classifies it),
// and the content stage during DATA between the last body byte on disk and the 250.
import type { SMTPServerSession } from 'smtp-server';
import type { Model } from '../domain/model.js';
import type { Logger } from '../observe/log.js';
import type { MessageWriter, Spool } from '../queue/spool.js';
import type { SpoolRecord } from '../queue/record.js';
import type { EnvelopeView, SessionView } from '../filters/contract.js';
import type { ConnectResult, Pipeline } from '../filters/pipeline.js';
import { readHeaderBlock, type HeaderBlock } from '../filters/header-block.js';
import { createMessageView } from '../filters/message-view.js';
import { storePlan, verdictSummary, type Stored } from '../filters/store.js';
import { replyError, type SmtpReplyError } from './replies.js';
import type { SessionState } from './server.js';

/** The received header block is read up to this many bytes for the filters' header view. */
export const HEADER_VIEW_MAX_BYTES = 1024 * 1024;
const NO_BLOCK: HeaderBlock = { fields: [], length: 0, complete: false };

export function sessionView(session: SMTPServerSession, st: SessionState): SessionView {
  return {
    sessionId: session.id,
    peerIp: st.facts.ip,
    clientIp: st.clientIp ?? st.facts.ip,
    helo: session.hostNameAppearsAs || session.clientHostname || '',
    tls: st.facts.tls,
    certNames: st.facts.certNames,
    inbound: st.cls.connector,
    matchedBy: st.cls.matchedBy,
  };
}

const refusalError = (r: { code: number; enhanced: string; text: string }): SmtpReplyError => replyError(r.code as 451, r.enhanced, r.text);

/** The session's connection-stage result (cached on the state); a refusal to give MAIL FROM, or null. */
export async function connectStage(pipeline: Pipeline, session: SMTPServerSession, st: SessionState, log: Logger): Promise<SmtpReplyError | null> {
  st.connect ??= pipeline.connect(sessionView(session, st));
  const res: ConnectResult = await st.connect;
  const r = res.plan.refusal;
  if (!r) return null;
  log.info({ stage: 'filter', sessionId: session.id, ip: res.clientIp, filter: r.filter, reason: r.reason, filters: verdictSummary(res.verdicts) }, 'session refused by the connection stage');
  return refusalError(r);
}

export interface ContentDeps {
  pipeline: Pipeline;
  spool: Spool;
  log: Logger;
  model: Model;
}

/**
 * Runs the content filters over the written (uncommitted) message and commits the plan. Throws
 * the SMTP reply when a filter refused or failed (the writer is aborted: nothing stays behind).
 */
export async function contentStage(
  deps: ContentDeps,
  writer: MessageWriter,
  record: SpoolRecord,
  session: SMTPServerSession,
  st: SessionState,
  /** The header block parsed from the DATA bytes as they arrived; without it, it is read back from the spool. */
  received?: () => HeaderBlock,
): Promise<Stored> {
  const connect = st.connect ? await st.connect : null;
  // Without a content filter, nor a connection verdict editing headers, nothing reads the
  // message's header block: skip parsing it.
  const needsBlock = deps.pipeline.hasContentFilters() || Boolean(connect?.applied.some((a) => a.verdict.headerEdits?.length));
  const block = !needsBlock ? NO_BLOCK : received ? received() : await readHeaderBlock(writer.reader(), HEADER_VIEW_MAX_BYTES);
  const message = createMessageView({ queueId: record.id, size: record.size, block, open: () => writer.reader(record.headers ?? '') });
  const envelope: EnvelopeView = { mailFrom: record.mailFrom, rcpts: record.rcpts.map((r) => ({ address: r.address, route: r.route })) };
  const result = await deps.pipeline.content({ session: sessionView(session, st), envelope, message, connect });
  const r = result.plan.refusal;
  if (r) {
    await writer.abort();
    deps.log.info({ stage: 'filter', sessionId: session.id, queueId: record.id, mailFrom: record.mailFrom, rcpts: envelope.rcpts.map((x) => x.address), filter: r.filter, reply: `${r.code} ${r.enhanced} ${r.text}`, reason: r.reason, filters: verdictSummary(result.verdicts) }, 'message refused by a filter');
    throw refusalError(r);
  }
  return storePlan(deps, writer, record, block, result);
}
