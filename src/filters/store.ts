// Commits the pipeline's plan for one message through the spool: recipients that share an
// outcome share one record (plan.ts groupPlan); the first stored group takes the received copy,
// each further group a copy of its bytes. Quarantined groups go to the quarantine area, deleted
// ones nowhere (DROP). Every commit is durable before it resolves, so the caller may answer 250.
import type { Model } from '../domain/model.js';
import type { Logger } from '../observe/log.js';
import { track } from '../observe/events.js';
import type { MessageWriter, Spool } from '../queue/spool.js';
import type { RcptState, SpoolRecord } from '../queue/record.js';
import type { HeaderBlock } from './header-block.js';
import { applyHeaderEdits } from './header-edits.js';
import { groupPlan, type PlanGroup, type RcptPlan } from './plan.js';
import type { StageResult, VerdictRecord } from './pipeline.js';

export interface StoreDeps {
  readonly spool: Spool;
  readonly log: Logger;
  readonly model: Model;
}

export interface Stored {
  /** The id the 250 names: the received copy's. */
  readonly id: string;
  readonly queued: SpoolRecord[];
  readonly quarantined: SpoolRecord[];
  readonly dropped: readonly string[];
}

/** A compact verdict list for the message's log line. */
export const verdictSummary = (vs: readonly VerdictRecord[]) => vs.map((v) => ({ filter: v.filter, verdict: v.verdict, reason: v.reason, ...(v.scl !== undefined ? { scl: v.scl } : {}) }));

function rcptState(p: RcptPlan, original: Map<string, RcptState>, now: number): RcptState {
  const o = p.addedBy ? undefined : original.get(p.address.toLowerCase());
  if (o) return { ...o, route: p.route };
  return { address: p.address, route: p.route, status: 'pending', attempts: 0, lastError: null, lastHost: null, updatedAt: now, ...(p.addedBy ? { expandedBy: p.addedBy } : {}) };
}

function groupRecord(base: SpoolRecord, id: string, g: PlanGroup, block: HeaderBlock, result: StageResult, model: Model, now: number): SpoolRecord {
  const original = new Map(base.rcpts.map((r) => [r.address.toLowerCase(), r]));
  const edited = applyHeaderEdits(base.headers ?? '', block.fields, g.edits);
  const rec: SpoolRecord = { ...base, id, rcpts: g.rcpts.map((r) => rcptState(r, original, now)), headers: edited.headers };
  if (edited.omit.length) rec.omit = edited.omit.map(([s, e]) => [s, e]);
  else delete rec.omit;
  if (g.transforms.length) rec.transforms = [...g.transforms];
  else delete rec.transforms;
  if (g.disposition.kind === 'quarantine') {
    const d = g.disposition;
    rec.quarantine = {
      filter: d.filter,
      stage: d.stage,
      type: d.type,
      reason: d.reason,
      quarantinedAt: now,
      expiresAt: now + model.quarantine.retentionMs,
      verdicts: result.verdicts.map((v) => ({ filter: v.filter, stage: v.stage, verdict: v.verdict, reason: v.reason })),
    };
  }
  return rec;
}

async function copyOf(spool: Spool, writer: MessageWriter, rec: SpoolRecord, area: 'queue' | 'quarantine'): Promise<void> {
  const w = await spool.create(rec.id);
  try {
    for await (const chunk of writer.reader() as AsyncIterable<Buffer>) await w.write(chunk);
  } catch (err) {
    await w.abort();
    throw err;
  }
  await w.commit(rec, area);
}

export async function storePlan(deps: StoreDeps, writer: MessageWriter, base: SpoolRecord, block: HeaderBlock, result: StageResult): Promise<Stored> {
  const { spool, log, model } = deps;
  const now = Date.now();
  const groups = groupPlan(result.plan);
  const kept = groups.filter((g) => g.disposition.kind !== 'delete');
  const dropped = groups.filter((g) => g.disposition.kind === 'delete');
  const records = kept.map((g, i) => ({ g, rec: groupRecord(base, i === 0 ? writer.id : spool.newId(), g, block, result, model, now) }));
  const areaOf = (g: PlanGroup) => (g.disposition.kind === 'quarantine' ? 'quarantine' : 'queue') as 'queue' | 'quarantine';
  // Copies first (they read the uncommitted file), the received copy last: a failure removes the
  // copies already made, so the client's 4xx leaves nothing behind to deliver twice.
  const done: { id: string; area: 'queue' | 'quarantine' }[] = [];
  try {
    for (const { g, rec } of records.slice(1)) {
      await copyOf(spool, writer, rec, areaOf(g));
      done.push({ id: rec.id, area: areaOf(g) });
    }
    const first = records[0];
    if (first) await writer.commit(first.rec, areaOf(first.g));
    else await writer.abort();
  } catch (err) {
    await writer.abort();
    for (const d of done) await (d.area === 'quarantine' ? spool.removeQuarantined(d.id) : spool.remove(d.id)).catch(() => undefined);
    throw err;
  }
  const filters = verdictSummary(result.verdicts);
  const queued: SpoolRecord[] = [];
  const quarantined: SpoolRecord[] = [];
  for (const { g, rec } of records) {
    const rcpts = rec.rcpts.map((r) => r.address);
    const split = records.length + dropped.length > 1 ? { splitFrom: writer.id } : {};
    if (g.disposition.kind === 'quarantine') {
      quarantined.push(rec);
      const q = rec.quarantine!;
      log.info({ stage: 'quarantine', sessionId: rec.sessionId, queueId: rec.id, ...split, mailFrom: rec.mailFrom, rcpts, type: q.type, filter: q.filter, reason: q.reason, expiresAt: new Date(q.expiresAt).toISOString(), filters }, 'message quarantined');
      track({ kind: 'QUARANTINE', queueId: rec.id, sessionId: rec.sessionId, sender: rec.mailFrom, recipients: rcpts, size: rec.size, clientIp: rec.client.ip, inbound: rec.client.inbound, reason: q.reason, quarantineType: q.type, filter: { name: q.filter, stage: q.stage, verdict: 'quarantine' } });
    } else {
      queued.push(rec);
      log.info({ stage: 'spool', sessionId: rec.sessionId, queueId: rec.id, ...split, mailFrom: rec.mailFrom, rcpts, size: rec.size, inbound: rec.client.inbound, filters }, 'message queued');
    }
  }
  for (const g of dropped) {
    if (g.disposition.kind !== 'delete') continue;
    const rcpts = g.rcpts.map((r) => r.address);
    log.info({ stage: 'filter', sessionId: base.sessionId, queueId: writer.id, mailFrom: base.mailFrom, rcpts, filter: g.disposition.filter, reason: g.disposition.reason, filters }, 'message dropped');
    track({ kind: 'DROP', queueId: writer.id, sessionId: base.sessionId, sender: base.mailFrom, recipients: rcpts, size: base.size, clientIp: base.client.ip, inbound: base.client.inbound, reason: g.disposition.reason, filter: { name: g.disposition.filter, stage: g.disposition.stage, verdict: 'delete' } });
  }
  return { id: writer.id, queued, quarantined, dropped: dropped.flatMap((g) => g.rcpts.map((r) => r.address)) };
}
