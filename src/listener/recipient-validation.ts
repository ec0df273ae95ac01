// Recipient validation at RCPT (acceptedDomains[].recipientValidation), the shell around the pure
// list check (policy/recipient-list.ts) and the callout probe (delivery/callout-probe.ts). Runs
// only for recipients the relay policy already accepted, so nothing is probed for a session that
// failed it. List files are re-read when their mtime changes (looked at most every second);
// callout answers are cached for `cache`; a probe that cannot decide accepts and is not cached.
import { readFileSync, statSync } from 'node:fs';
import type { Model, RecipientValidation } from '../domain/model.js';
import type { RouteDecision } from '../routing/select-connector.js';
import { findAcceptedDomain } from '../routing/select-connector.js';
import { accept, refuse, type Verdict } from '../domain/verdict.js';
import { checkListed, parseRecipientList, unknownRecipient, type RecipientList } from '../policy/recipient-list.js';
import { probeRecipient, type ProbeAnswer, type ProbeTarget } from '../delivery/callout-probe.js';
import type { Logger } from '../observe/log.js';

const LIST_RECHECK_MS = 1_000;
const CALLOUT_CACHE_ENTRIES = 50_000;
const SMART_HOST_DEFAULT_PORT = 25;

interface LoadedList {
  list: RecipientList | null;
  mtimeMs: number;
  size: number;
  checkedAt: number;
}

export type Probe = (target: ProbeTarget, helo: string, address: string) => Promise<ProbeAnswer>;

export class RecipientValidator {
  private readonly lists = new Map<string, LoadedList>();
  private readonly callouts = new Map<string, { valid: boolean; until: number; reply: string }>();

  constructor(
    private readonly log: Logger,
    private readonly probe: Probe = probeRecipient,
    private readonly now: () => number = Date.now,
  ) {}

  /** null: no validation applies (answer at once); else the verdict, for an accepted recipient only. */
  check(model: Model, address: string, route: RouteDecision | null): Promise<Verdict> | null {
    const domain = address.slice(address.lastIndexOf('@') + 1);
    const rv = findAcceptedDomain(model, domain)?.recipientValidation;
    if (!rv || rv.mode === 'None') return null;
    if (rv.mode === 'List') return Promise.resolve(this.checkList(rv, address));
    return this.callout(model, rv, address, route);
  }

  private checkList(rv: RecipientValidation, address: string): Verdict {
    const loaded = rv.list === null ? null : this.list(rv.list);
    // A list that cannot be read is not an empty directory: refusing everyone would be wrong, accepting everyone silent.
    if (!loaded) return refuse(451, '4.3.0', 'Recipient validation is unavailable, try again later', `recipient list ${rv.list} unreadable`);
    return checkListed(loaded, address);
  }

  private list(file: string): RecipientList | null {
    const now = this.now();
    const cur = this.lists.get(file);
    if (cur && now - cur.checkedAt < LIST_RECHECK_MS) return cur.list;
    try {
      const st = statSync(file);
      if (cur?.list && st.mtimeMs === cur.mtimeMs && st.size === cur.size) {
        cur.checkedAt = now;
        return cur.list;
      }
      const { list, problems } = parseRecipientList(readFileSync(file, 'utf8'));
      for (const p of problems.slice(0, 10)) this.log.warn({ stage: 'policy', file, line: p.line, text: p.text }, 'recipient list: line is not an address, ignored');
      this.lists.set(file, { list, mtimeMs: st.mtimeMs, size: st.size, checkedAt: now });
      this.log.info({ stage: 'policy', file, addresses: list.addresses.size, catchAll: [...list.catchAll] }, 'recipient list loaded');
      return list;
    } catch (err) {
      // Keep serving the last good copy while the file is being replaced.
      this.log.warn({ stage: 'policy', file, err: (err as Error).message }, 'recipient list unreadable');
      if (cur) cur.checkedAt = now;
      else this.lists.set(file, { list: null, mtimeMs: 0, size: 0, checkedAt: now });
      return cur?.list ?? null;
    }
  }

  private async callout(model: Model, rv: RecipientValidation, address: string, route: RouteDecision | null): Promise<Verdict> {
    const key = address.toLowerCase();
    const now = this.now();
    const hit = this.callouts.get(key);
    if (hit && hit.until > now) {
      return hit.valid ? accept(`callout (cached): ${hit.reply}`) : unknownRecipient(`callout (cached): ${hit.reply}`);
    }
    const host = route?.kind === 'connector' ? route.connector.smartHosts[0] : undefined;
    if (!host) return accept('callout: the route has no smart host to ask; accepted unverified');
    const target = { host: host.host, port: host.port ?? SMART_HOST_DEFAULT_PORT };
    const answer = await this.probe(target, model.server.hostname, address);
    const at = `${target.host}:${target.port}`;
    if (answer.result === 'unknown') {
      this.log.info({ stage: 'policy', rcpt: address, callout: at, reason: answer.reason }, 'callout inconclusive; recipient accepted');
      return accept(`callout ${at} inconclusive (${answer.reason}); accepted unverified`);
    }
    if (this.callouts.size >= CALLOUT_CACHE_ENTRIES) this.callouts.delete(this.callouts.keys().next().value as string);
    this.callouts.delete(key);
    this.callouts.set(key, { valid: answer.result === 'valid', until: now + rv.cacheMs, reply: answer.reply });
    return answer.result === 'valid' ? accept(`callout ${at}: ${answer.reply}`) : unknownRecipient(`callout ${at}: ${answer.reply}`);
  }
}
