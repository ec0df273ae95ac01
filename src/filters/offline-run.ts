// Runs the pipeline on a message file without a daemon and without delivering (`sluice route
// --message`): the session and envelope come from the route's arguments, the message from the
// file (bare LF line ends taken as CRLF, as a client would send it), and the answer is every
// filter's verdict plus what would become of the message.
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Model } from '../domain/model.js';
import type { Logger } from '../observe/log.js';
import type { EnvelopeView, FilterFactory, SessionView } from './contract.js';
import { parseHeaderBlock } from './header-block.js';
import { createMessageView } from './message-view.js';
import { Pipeline, type VerdictRecord } from './pipeline.js';
import { groupPlan } from './plan.js';

export interface OfflineOutcome {
  /** The reply the client would get: at MAIL FROM (connection stage) or after DATA. */
  readonly reply: string;
  readonly at: 'MAIL FROM' | 'DATA';
  readonly verdicts: readonly VerdictRecord[];
  /** What happens per group of recipients when the message is accepted. */
  readonly groups: readonly { readonly disposition: string; readonly recipients: readonly string[]; readonly headerEdits: number }[];
}

export async function runOffline(
  model: Model,
  file: string,
  session: SessionView,
  envelope: EnvelopeView,
  log: Logger,
  factories?: readonly FilterFactory[],
): Promise<OfflineOutcome> {
  const bytes = Buffer.from((await readFile(file)).toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
  const pipeline = new Pipeline({ getModel: () => model, log, ...(factories ? { factories } : {}) });
  const connect = await pipeline.connect(session, envelope);
  const r0 = connect.plan.refusal;
  if (r0) return { reply: `${r0.code} ${r0.enhanced} ${r0.text}`, at: 'MAIL FROM', verdicts: connect.verdicts, groups: [] };
  const message = createMessageView({ queueId: 'OFFLINE', size: bytes.length, block: parseHeaderBlock(bytes), open: () => Readable.from([bytes]) });
  const res = await pipeline.content({ session, envelope, message, connect });
  const r = res.plan.refusal;
  if (r) return { reply: `${r.code} ${r.enhanced} ${r.text}`, at: 'DATA', verdicts: res.verdicts, groups: [] };
  const groups = groupPlan(res.plan).map((g) => ({
    disposition: g.disposition.kind === 'quarantine' ? `quarantine (${g.disposition.type}: ${g.disposition.reason})` : g.disposition.kind === 'delete' ? `delete (${g.disposition.reason})` : 'deliver',
    recipients: g.rcpts.map((x) => x.address),
    headerEdits: g.edits.length,
  }));
  return { reply: '250 2.6.0 Queued mail for delivery', at: 'DATA', verdicts: res.verdicts, groups };
}
