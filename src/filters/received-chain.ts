// Pure: the hops of a message's Received: chain and the original sending IP behind a gateway
// (enhanced filtering, EOP's "skip listing"). Input: the peer IP and the Received: values as
// received, newest first; output: the first hop that is neither the skipped last hop nor a
// listed gateway, with the rule that decided. No DNS, no trust in anything below that hop.
import { isIP } from 'node:net';
import { ipMatches } from '../domain/match.js';
import type { IpRule } from '../domain/model.js';

export interface Hop {
  /** The connecting client's address as the receiving server recorded it. */
  readonly ip: string;
  /** The name the client gave in HELO/EHLO (or the first word of the from clause). */
  readonly helo: string | null;
}

/** How deep the chain walk goes: a longer chain is a loop or a forgery, not a route. */
export const MAX_HOPS = 30;

const unfold = (v: string): string => v.replace(/\r?\n[ \t]+/g, ' ').replace(/\s+/g, ' ').trim();

/** Strips comments' nesting one level deep is enough for the TCP-info part "(name [ip])". */
function fromClause(value: string): string | null {
  const v = unfold(value);
  const m = /^from\s+(.*?)(?:\s+by\s|\s+via\s|\s+with\s|\s+id\s|\s+for\s|;|$)/i.exec(v);
  if (!m?.[1]) return null;
  // "by" inside a comment ("(... by foo)") is not the by clause: extend to the balanced paren.
  let clause = m[1];
  let depth = 0;
  for (const ch of clause) depth += ch === '(' ? 1 : ch === ')' ? -1 : 0;
  if (depth > 0) {
    const rest = v.slice(v.indexOf(clause) + clause.length);
    let i = 0;
    for (; i < rest.length && depth > 0; i++) depth += rest[i] === '(' ? 1 : rest[i] === ')' ? -1 : 0;
    clause += rest.slice(0, i);
  }
  return clause;
}

const bareIp = (s: string): string | null => {
  const t = s.replace(/^ipv6:/i, '');
  return isIP(t) ? t : null;
};

/**
 * The client of one Received: header: the address literal in the TCP-info comment
 * ("from helo (host [192.0.2.1])"), else an address literal as the from name ("from [192.0.2.1]"),
 * else a bare address in a comment (Exchange: "from exserver (192.168.2.9)"). null when none.
 */
export function parseReceived(value: string): Hop | null {
  const clause = fromClause(value);
  if (!clause) return null;
  const first = clause.split(/[\s(]/)[0] ?? '';
  const heloLiteral = /^\[([^\]]+)\]$/.exec(first);
  const comment = /\((.*)\)/.exec(clause)?.[1] ?? '';
  const bracketed = [...comment.matchAll(/\[([^\]]+)\]/g)].map((m) => bareIp(m[1] ?? '')).filter((ip): ip is string => ip !== null);
  const commentBare = comment
    .split(/[\s,;()]+/)
    .map((w) => bareIp(w))
    .find((ip): ip is string => ip !== null);
  const ip = bracketed.at(-1) ?? (heloLiteral ? bareIp(heloLiteral[1] ?? '') : null) ?? commentBare ?? null;
  if (!ip) return null;
  const helo = heloLiteral ? null : first || null;
  return { ip, helo };
}

export interface ChainRules {
  readonly skipLastIP: boolean;
  readonly skipIPs: readonly IpRule[];
}

export type OriginalSender =
  | { readonly found: true; readonly hop: Hop; readonly skipped: readonly string[]; readonly rule: string }
  | { readonly found: false; readonly skipped: readonly string[]; readonly rule: string };

/**
 * Walks from the peer (the last hop) back through the Received: values, newest first. As in EOP,
 * skipLastIP skips the last hop only; otherwise every hop whose IP is in skipIPs is skipped. The
 * first hop left is the original sender. A header whose client cannot be read ends the walk:
 * what lies below it cannot be attributed to a hop we trust.
 */
export function originalSender(peer: Hop, received: readonly string[], rules: ChainRules): OriginalSender {
  const skipped: string[] = [];
  const skips = (hop: Hop, index: number): string | null => {
    if (rules.skipLastIP) return index === 0 ? 'efSkipLastIP' : null;
    const r = ipMatches(rules.skipIPs, hop.ip);
    return r ? `efSkipIPs:${r.raw}` : null;
  };
  let hop: Hop | null = peer;
  let last = 'none';
  for (let i = 0; hop && i <= Math.min(received.length, MAX_HOPS); i++) {
    const why = skips(hop, i);
    if (!why) return { found: true, hop, skipped, rule: skipped.length ? last : 'peer' };
    skipped.push(hop.ip);
    last = why;
    const next: string | undefined = received[i];
    if (next === undefined) break;
    hop = parseReceived(next);
    if (!hop) return { found: false, skipped, rule: `unreadable Received header ${i + 1}` };
  }
  return { found: false, skipped, rule: 'every hop skipped' };
}
