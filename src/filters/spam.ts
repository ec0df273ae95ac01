// Stage `spam`: asks rspamd about the message and applies EOP's spam actions (spam-verdict.ts
// holds the mapping). Skipped with SCL -1 for allowed senders, an IP the connection filter
// allow-listed, and mail from an on-premises inbound connector; blocked senders are high
// confidence spam without asking rspamd. rspamd down or slow throws: the runner fails closed.
import type { SpamFilterModel } from '../config/sections/content.js';
import type { Model } from '../domain/model.js';
import { checkMessage } from './rspamd-client.js';
import { judgeRspamd, senderListVerdict, spamVerdict, type SpamJudgement } from './spam-verdict.js';
import type { ContentContext, Filter, FilterFactory, FilterVerdict, HeaderField } from './contract.js';

const headerValue = (headers: readonly HeaderField[], name: string): string | null =>
  headers.find((h) => h.name.toLowerCase() === name)?.value ?? null;

/** The address in a From: value ("Ann <ann@fabrikam.com>" → ann@fabrikam.com). */
export function fromHeaderAddress(value: string | null): string | null {
  if (value === null) return null;
  const m = /<([^<>\s]+@[^<>\s]+)>/.exec(value) ?? /([^\s<>"(),;:]+@[^\s<>"(),;:]+)/.exec(value);
  return m ? m[1]!.toLowerCase() : null;
}

function skipped(why: string): SpamJudgement {
  return { cls: 'skipped', scl: -1, bcl: 0, why };
}

export function spamFilter(cfg: SpamFilterModel): Filter {
  return {
    name: 'spam',
    stage: 'spam',
    onError: cfg.onError,
    async content(ctx: ContentContext): Promise<FilterVerdict> {
      const headers = ctx.message.headers;
      // Unfolded, so a prefixed Subject is written as one line.
      const subject = headerValue(headers, 'subject')?.replace(/\r?\n(?=[ \t])/g, '') ?? null;
      const senders = [ctx.envelope.mailFrom, fromHeaderAddress(headerValue(headers, 'from')) ?? ''];
      const listed = senderListVerdict(cfg, senders);
      if (listed === 'blocked') return spamVerdict({ cls: 'highConfidenceSpam', scl: 9, bcl: 0, why: 'blocked sender' }, cfg, subject);
      if (listed === 'allowed') return spamVerdict(skipped('allowed sender'), cfg, subject);
      if (ctx.facts.ipAllowed) return spamVerdict(skipped('IP allow list'), cfg, subject);
      if (ctx.session.inbound?.connectorType === 'OnPremises') return spamVerdict(skipped('on-premises connector'), cfg, subject);

      const r = await checkMessage(
        cfg.rspamd.url,
        ctx.message.open(),
        {
          ip: ctx.session.clientIp,
          helo: ctx.session.helo,
          from: ctx.envelope.mailFrom,
          rcpts: ctx.envelope.rcpts.map((x) => x.address),
          queueId: ctx.message.queueId,
        },
        { timeoutMs: cfg.rspamd.timeout, signal: ctx.signal },
      );
      let j = judgeRspamd(r, cfg);
      const evidence: Record<string, unknown> = { engine: 'rspamd', action: r.action, score: r.score, symbols: Object.keys(r.symbols) };
      const spfFail = cfg.markAsSpamSpfRecordHardFail && ctx.facts.auth?.spf === 'fail';
      if (spfFail && (j.cls === 'clean' || j.cls === 'bulk')) j = { ...j, cls: 'spam', scl: 6, why: 'SPF record hard fail' };
      const v = spamVerdict(j, cfg, subject, evidence);
      if (!spfFail) return v;
      return { ...v, headerEdits: [...(v.headerEdits ?? []), { op: 'add', name: 'X-CustomSpam', value: 'SPF Record Fail' }] };
    },
  };
}

export const spamFilters: FilterFactory = (model: Model) => (model.spamFilter.enabled ? [spamFilter(model.spamFilter)] : []);
