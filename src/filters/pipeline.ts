// The pipeline runner: orders the filters of the live model by stage (contract.ts STAGES) and
// runs their connect hooks for a session (before MAIL FROM is accepted) and their content hooks
// for a message (after the body is on disk, before the 250), within one time budget
// (filters.timeout). It folds verdicts into a plan (plan.ts), reports each one (FILTER event),
// and fails closed: a filter that throws or runs out of time gives a 4xx naming its stage,
// unless that filter opted into onError: Accept.
import type { Model } from '../domain/model.js';
import type { Logger } from '../observe/log.js';
import { track } from '../observe/events.js';
import { routeOf } from '../routing/route-of.js';
import { STAGES, type ContentContext, type EnvelopeView, type Filter, type FilterContext, type FilterFactory, type FilterVerdict, type MessageView, type PipelineFacts, type SessionView } from './contract.js';
import { FILTER_FACTORIES, buildFilters } from './registry.js';
import { applyVerdict, emptyFacts, initialPlan, type Plan, type PlanRefusal, type RcptPlan } from './plan.js';

/** What one filter answered, for the log line, the trace and `sluice route --message`. */
export interface VerdictRecord {
  readonly filter: string;
  readonly stage: string;
  /** accept | reject | tempfail | quarantine | delete | error (an error a filter's onError: Accept skipped) */
  readonly verdict: string;
  readonly reason: string;
  readonly recipients?: readonly string[];
  readonly scl?: number;
  readonly ms: number;
  readonly evidence?: Readonly<Record<string, unknown>>;
}

export interface StageResult {
  readonly plan: Plan;
  readonly verdicts: readonly VerdictRecord[];
}

/** The cached connection-stage result of a session; `clientIp` is the IP it judged. */
export interface ConnectResult extends StageResult {
  readonly clientIp: string;
  /** The verdicts themselves, replayed into every message's plan of the session. */
  readonly applied: readonly { filter: Pick<Filter, 'name' | 'stage'>; verdict: FilterVerdict }[];
}

export interface ContentInput {
  readonly session: SessionView;
  readonly envelope: EnvelopeView;
  readonly message: MessageView;
  /** The session's connect result; the connect hooks run again when the judged IP changed since. */
  readonly connect: ConnectResult | null;
  /** Filters to leave out (by name). */
  readonly skip?: ReadonlySet<string>;
}

export interface PipelineOptions {
  getModel: () => Model;
  log: Logger;
  /** Test-only hook: the filter factories (default: the registry's). */
  factories?: readonly FilterFactory[];
}

const stageIndex = (f: Filter) => STAGES.indexOf(f.stage);
const isThenable = <T>(x: T | PromiseLike<T>): x is PromiseLike<T> => typeof (x as { then?: unknown } | null)?.then === 'function';

/** The reply when a filter failed or the budget ran out at its stage: 4xx, the stage named, nothing internal. */
export function failClosed(stage: string, when: 'connect' | 'content'): Pick<PlanRefusal, 'code' | 'enhanced' | 'text'> {
  const text = when === 'connect' ? `Sender could not be checked (${stage}), try again later` : `Message could not be scanned (${stage}), try again later`;
  return { code: 451, enhanced: '4.7.500', text };
}

/** An AbortController made on first use of its signal: aborting before that only records the reason. */
class LazyAbort {
  private ac: AbortController | null = null;
  private reason: Error | null = null;

  get aborted(): boolean {
    return this.reason !== null;
  }

  get signal(): AbortSignal {
    if (!this.ac) {
      this.ac = new AbortController();
      if (this.reason) this.ac.abort(this.reason);
    }
    return this.ac.signal;
  }

  abort(reason: Error): void {
    this.reason ??= reason;
    this.ac?.abort(reason);
  }
}

export class Pipeline {
  private builtFor: Model | null = null;
  private ordered: readonly Filter[] = [];

  constructor(private readonly opts: PipelineOptions) {}

  /** The live model's filters in stage order (stable within a stage); rebuilt when the model changes. */
  filters(): readonly Filter[] {
    const model = this.opts.getModel();
    if (this.builtFor !== model) {
      const built = buildFilters(model, this.opts.factories ?? FILTER_FACTORIES);
      this.ordered = built.map((f, i) => ({ f, i })).sort((a, b) => stageIndex(a.f) - stageIndex(b.f) || a.i - b.i).map((x) => x.f);
      this.builtFor = model;
    }
    return this.ordered;
  }

  /** Whether any filter of the live model reads the message (a content hook). */
  hasContentFilters(): boolean {
    return this.filters().some((f) => f.content);
  }

  /** Connection stage: runs before MAIL FROM is accepted; the listener caches the result per session. */
  async connect(session: SessionView, envelope: EnvelopeView = { mailFrom: '', rcpts: [] }): Promise<ConnectResult> {
    const applied: ConnectResult['applied'][number][] = [];
    const res = await this.run('connect', { session, envelope, skip: new Set() }, initialPlan([]), (filter, verdict) => applied.push({ filter, verdict }));
    return { ...res, clientIp: session.clientIp, applied };
  }

  /** Content stage, during DATA: the plan for the message, with the connection stage's verdicts replayed first. */
  async content(input: ContentInput): Promise<StageResult> {
    const connect = input.connect && input.connect.clientIp === input.session.clientIp ? input.connect : await this.connect(input.session, input.envelope);
    const skip = input.skip ?? new Set<string>();
    const routeOf = this.routeOf();
    let plan = initialPlan(input.envelope.rcpts, { ...connect.plan.facts, skip });
    for (const a of connect.applied) plan = applyVerdict(plan, a.filter, a.verdict, routeOf);
    if (plan.refusal) return { plan, verdicts: connect.verdicts };
    const res = await this.run('content', { session: input.session, envelope: input.envelope, message: input.message, skip }, plan);
    return { plan: res.plan, verdicts: [...connect.verdicts, ...res.verdicts] };
  }

  private routeOf() {
    const model = this.opts.getModel();
    return (address: string): RcptPlan['route'] => routeOf(model, address);
  }

  private async run(
    hook: 'connect' | 'content',
    input: { session: SessionView; envelope: EnvelopeView; message?: MessageView; skip: ReadonlySet<string> },
    start: Plan,
    onVerdict?: (filter: Filter, v: FilterVerdict) => void,
  ): Promise<StageResult> {
    const todo = this.filters().filter((f) => f[hook] && !input.skip.has(f.name));
    // No filter with this hook (the connect stage of most configs): no budget timer to arm.
    if (!todo.length) return { plan: start, verdicts: [] };
    const model = this.opts.getModel();
    const budgetMs = model.filters.timeoutMs;
    const routeOf = this.routeOf();
    const ac = new LazyAbort();
    const started = performance.now();
    // The budget's timer is armed when the first filter answers with a promise, for what is left
    // of the budget: a stage of filters that answer at once (header trust, on every message)
    // cannot be interrupted anyway, and so costs no timer and no promise.
    let timer: NodeJS.Timeout | undefined;
    let expired: Promise<never> | null = null;
    const expiry = (): Promise<never> => {
      if (!expired) {
        expired = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            ac.abort(new Error('filters.timeout'));
            reject(new Error(`filters.timeout (${budgetMs} ms) spent`));
          }, Math.max(0, budgetMs - (performance.now() - started)));
        });
        expired.catch(() => undefined);
      }
      return expired;
    };
    const verdicts: VerdictRecord[] = [];
    let plan = start;
    try {
      for (const filter of todo) {
        // The signal is made only for a filter that reads it (most never do: an AbortSignal and
        // its DOMException showed in the profile at one per message).
        const ctx: FilterContext = {
          model,
          session: input.session,
          envelope: input.envelope,
          facts: plan.facts as PipelineFacts,
          ...(hook === 'content' ? { message: input.message! } : {}),
          get signal() {
            return ac.signal;
          },
        };
        const t0 = performance.now();
        let v: FilterVerdict;
        try {
          if (ac.aborted) throw new Error(`filters.timeout (${budgetMs} ms) spent before this filter ran`);
          const out = hook === 'content' ? filter.content!(ctx as ContentContext) : filter.connect!(ctx);
          // A verdict given at once (header trust) cannot lose to the timer: no race for it.
          v = isThenable(out) ? await Promise.race([out, expiry()]) : out;
          if (!v || typeof v !== 'object' || !v.action) throw new Error('the filter returned no verdict');
        } catch (err) {
          const ms = Math.round(performance.now() - t0);
          const reason = (err as Error)?.message ?? String(err);
          const rec: VerdictRecord = { filter: filter.name, stage: filter.stage, verdict: 'error', reason, ms };
          verdicts.push(rec);
          this.report(rec, input, hook);
          if (filter.onError === 'Accept') {
            this.opts.log.warn({ stage: 'filter', filter: filter.name, filterStage: filter.stage, sessionId: input.session.sessionId, queueId: input.message?.queueId ?? null, reason }, 'filter failed; skipped (onError: Accept)');
            continue;
          }
          this.opts.log.warn({ stage: 'filter', filter: filter.name, filterStage: filter.stage, sessionId: input.session.sessionId, queueId: input.message?.queueId ?? null, reason }, 'filter failed; tempfail (fail closed)');
          const refusal: PlanRefusal = { ...failClosed(filter.stage, hook), filter: filter.name, stage: filter.stage, reason: `${filter.name} failed: ${reason}` };
          return { plan: { ...plan, refusal }, verdicts };
        }
        const ms = Math.round(performance.now() - t0);
        const rec: VerdictRecord = {
          filter: filter.name,
          stage: filter.stage,
          verdict: v.action.kind,
          reason: v.reason,
          ms,
          ...(v.recipients ? { recipients: v.recipients } : {}),
          ...(typeof v.scl === 'number' ? { scl: v.scl } : {}),
          ...(v.evidence ? { evidence: v.evidence } : {}),
        };
        verdicts.push(rec);
        this.report(rec, input, hook);
        onVerdict?.(filter, v);
        plan = applyVerdict(plan, filter, v, routeOf);
        if (plan.refusal) break;
      }
      return { plan, verdicts };
    } finally {
      clearTimeout(timer);
    }
  }

  private report(rec: VerdictRecord, input: { session: SessionView; envelope: EnvelopeView; message?: MessageView }, hook: string): void {
    const evidenceRule = rec.evidence?.['rule'];
    // A plain pass says nothing a trace reader needs (the message's log line lists every verdict);
    // everything else — a judgement, a score, evidence such as SPF results or a matched rule — is tracked.
    const worthTracking = rec.verdict !== 'accept' || rec.scl !== undefined || rec.evidence !== undefined;
    if (worthTracking) track({
      kind: 'FILTER',
      queueId: input.message?.queueId ?? null,
      sessionId: input.session.sessionId,
      sender: input.envelope.mailFrom,
      recipients: rec.recipients ?? input.envelope.rcpts.map((r) => r.address),
      clientIp: input.session.clientIp,
      inbound: input.session.inbound?.name ?? null,
      reason: rec.reason,
      filter: { name: rec.filter, stage: rec.stage, verdict: rec.verdict, score: rec.scl ?? null, rule: typeof evidenceRule === 'string' ? evidenceRule : null },
      detail: { hook, ms: rec.ms, ...(rec.evidence ? { evidence: rec.evidence } : {}) },
    });
    // A verdict with a notice (an advisory check skipped: a DNSBL that did not answer) is logged at info.
    const level = rec.evidence?.['notice'] ? 'info' : 'debug';
    if (!this.opts.log.isLevelEnabled(level)) return;
    const { stage: filterStage, ...rest } = rec;
    this.opts.log[level]({ stage: 'filter', sessionId: input.session.sessionId, queueId: input.message?.queueId ?? null, filterStage, ...rest }, 'filter verdict');
  }
}

export { emptyFacts };
