// The pure half of the runner: folds each filter's verdict, in stage order, into a per-recipient
// plan (deliver, quarantine or delete; header edits; route), the facts later stages read, and a
// refusal for the whole message. No I/O: pipeline.ts runs the filters, store.ts commits the plan.
import type { BodyTransform, Filter, FilterStage, FilterVerdict, HeaderEdit, PipelineFacts, QuarantineType } from './contract.js';
import type { RcptState } from '../queue/record.js';
import type { ReplyCode } from '../domain/verdict.js';

export type Disposition =
  | { readonly kind: 'deliver' }
  | { readonly kind: 'quarantine'; readonly type: QuarantineType; readonly reason: string; readonly filter: string; readonly stage: FilterStage }
  | { readonly kind: 'delete'; readonly reason: string; readonly filter: string; readonly stage: FilterStage };

export interface RcptPlan {
  readonly address: string;
  readonly route: RcptState['route'];
  readonly disposition: Disposition;
  /** Header edits for this recipient's copy, in stage order. */
  readonly edits: readonly HeaderEdit[];
  /** Body rewrites for this recipient's copy (disclaimers), applied when it leaves. */
  readonly transforms?: readonly BodyTransform[];
  /** The filter that added this recipient (redirect, add recipients); absent for the envelope's own. */
  readonly addedBy?: string;
}

export interface PlanRefusal {
  readonly code: ReplyCode;
  readonly enhanced: string;
  readonly text: string;
  readonly filter: string;
  readonly stage: FilterStage;
  readonly reason: string;
}

export interface Plan {
  readonly rcpts: readonly RcptPlan[];
  readonly refusal: PlanRefusal | null;
  readonly facts: PipelineFacts;
}

/** The route a recipient gets from the routing core (redirect and added recipients). */
export type RouteOf = (address: string) => RcptState['route'];

export const emptyFacts = (skip: ReadonlySet<string> = new Set()): PipelineFacts => ({ ipAllowed: false, scl: null, bcl: null, auth: null, skip });

export function initialPlan(rcpts: readonly { address: string; route: RcptState['route'] }[], facts: PipelineFacts = emptyFacts()): Plan {
  return { rcpts: rcpts.map((r) => ({ address: r.address, route: r.route, disposition: { kind: 'deliver' }, edits: [] })), refusal: null, facts };
}

const lower = (s: string) => s.toLowerCase();

/** A filter's reject is always 5xx and its tempfail 4xx, whatever code it gave. */
function replyCode(kind: 'reject' | 'tempfail', code: number): ReplyCode {
  if (kind === 'reject') return code >= 500 && code < 600 ? (code as ReplyCode) : 550;
  return code >= 400 && code < 500 ? (code as ReplyCode) : 451;
}

/** What a verdict teaches later stages: its SCL, and the evidence keys the runner knows. */
function learn(facts: PipelineFacts, v: FilterVerdict): PipelineFacts {
  const e = v.evidence ?? {};
  const auth = e['auth'];
  return {
    ...facts,
    scl: typeof v.scl === 'number' ? v.scl : facts.scl,
    bcl: typeof e['bcl'] === 'number' ? e['bcl'] : facts.bcl,
    ipAllowed: facts.ipAllowed || e['ipAllowed'] === true,
    auth: auth && typeof auth === 'object' ? (auth as PipelineFacts['auth']) : facts.auth,
  };
}

/**
 * Folds one verdict into the plan. The rules (README "Protection pipeline"): a reject or tempfail
 * refuses the whole message; for each recipient the first quarantine or delete (in stage order)
 * decides and later ones are only recorded; header edits and routes apply to the recipients the
 * verdict names (all when it names none); redirected recipients are replaced by the new ones,
 * which inherit their plan; added recipients start with the plan of the first one named.
 */
export function applyVerdict(plan: Plan, filter: Pick<Filter, 'name' | 'stage'>, v: FilterVerdict, routeOf: RouteOf): Plan {
  const facts = learn(plan.facts, v);
  const a = v.action;
  if (a.kind === 'reject' || a.kind === 'tempfail') {
    if (plan.refusal) return { ...plan, facts };
    const refusal = { code: replyCode(a.kind, a.code), enhanced: a.enhanced, text: a.text, filter: filter.name, stage: filter.stage, reason: v.reason };
    return { ...plan, facts, refusal };
  }
  const named = v.recipients ? new Set(v.recipients.map(lower)) : null;
  const targeted = (r: RcptPlan) => named === null || named.has(lower(r.address));
  let rcpts = plan.rcpts.map((r): RcptPlan => {
    if (!targeted(r)) return r;
    let disposition = r.disposition;
    if (disposition.kind === 'deliver' && a.kind === 'quarantine') {
      disposition = { kind: 'quarantine', type: a.type, reason: a.reason, filter: filter.name, stage: filter.stage };
    } else if (disposition.kind === 'deliver' && a.kind === 'delete') {
      disposition = { kind: 'delete', reason: a.reason, filter: filter.name, stage: filter.stage };
    }
    const route = v.route
      ? { kind: 'connector', connector: v.route.connector, rule: v.route.rule, explicit: true, ...(v.route.requireTls ? { requireTls: true } : {}) }
      : r.route;
    const transforms = v.bodyTransforms?.length ? [...(r.transforms ?? []), ...v.bodyTransforms] : r.transforms;
    return { ...r, disposition, route, edits: v.headerEdits?.length ? [...r.edits, ...v.headerEdits] : r.edits, ...(transforms ? { transforms } : {}) };
  });
  const template = rcpts.find(targeted);
  if (v.redirectTo?.length && template) {
    const kept = rcpts.filter((r) => !targeted(r));
    rcpts = [...kept, ...v.redirectTo.map((address) => ({ ...template, address, route: routeOf(address), addedBy: filter.name }))];
  }
  if (v.addRecipients?.length && template) {
    rcpts = [...rcpts, ...v.addRecipients.map((address) => ({ ...template, address, route: routeOf(address), addedBy: filter.name }))];
  }
  return { ...plan, facts, rcpts: dedupe(rcpts) };
}

/** One entry per address (case-insensitive): the first one wins, as at RCPT. */
function dedupe(rcpts: RcptPlan[]): RcptPlan[] {
  const seen = new Set<string>();
  return rcpts.filter((r) => {
    const k = lower(r.address);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export interface PlanGroup {
  readonly disposition: Disposition;
  readonly edits: readonly HeaderEdit[];
  readonly transforms: readonly BodyTransform[];
  readonly rcpts: readonly RcptPlan[];
}

/**
 * The split rule: recipients that share disposition, header edits and body rewrites share one spool record;
 * each further group is a copy of the message. Groups keep the envelope's recipient order.
 */
export function groupPlan(plan: Plan): PlanGroup[] {
  const groups = new Map<string, { disposition: Disposition; edits: readonly HeaderEdit[]; transforms: readonly BodyTransform[]; rcpts: RcptPlan[] }>();
  for (const r of plan.rcpts) {
    const key = JSON.stringify([r.disposition, r.edits, r.transforms ?? []]);
    const g = groups.get(key);
    if (g) g.rcpts.push(r);
    else groups.set(key, { disposition: r.disposition, edits: r.edits, transforms: r.transforms ?? [], rcpts: [r] });
  }
  return [...groups.values()];
}
