// Sender Rewriting Scheme (SRS0, as in Shevek's paper and postsrsd): mail that a rule redirects
// or blind-copies to another domain leaves with a MAIL FROM in our domain, so SPF passes at the
// destination, and a bounce to that address can be turned back into the original sender. The
// hash (HMAC-SHA1 with the configured secret) and the day stamp stop it being an open relay.
import { createHmac, timingSafeEqual } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const DAY_MS = 86_400_000;
/** How long a rewritten address stays valid for bounces (postsrsd's default). */
export const SRS_MAX_AGE_DAYS = 21;

export interface SrsKeys {
  readonly secret: string;
  /** Our domain the rewritten addresses are in. */
  readonly domain: string;
}

function stamp(now: number): string {
  const day = Math.floor(now / DAY_MS) % 1024;
  return BASE32[day >> 5]! + BASE32[day & 31]!;
}

function stampAge(ts: string, now: number): number | null {
  if (ts.length !== 2) return null;
  const hi = BASE32.indexOf(ts[0]!.toUpperCase());
  const lo = BASE32.indexOf(ts[1]!.toUpperCase());
  if (hi < 0 || lo < 0) return null;
  const then = (hi << 5) | lo;
  const today = Math.floor(now / DAY_MS) % 1024;
  return (today - then + 1024) % 1024;
}

function hash(secret: string, ...parts: string[]): string {
  return createHmac('sha1', secret).update(parts.join('').toLowerCase()).digest('base64').slice(0, 4);
}

/** SRS0=HHHH=TT=domain=local@ourdomain; the null sender and our own domain are left alone. */
export function srsForward(sender: string, keys: SrsKeys, now = Date.now()): string {
  const at = sender.lastIndexOf('@');
  if (at < 1) return sender;
  const local = sender.slice(0, at);
  const domain = sender.slice(at + 1);
  if (domain.toLowerCase() === keys.domain.toLowerCase()) return sender;
  const ts = stamp(now);
  return `SRS0=${hash(keys.secret, ts, domain, local)}=${ts}=${domain}=${local}@${keys.domain}`;
}

/** The original sender of an SRS0 address in our domain, or null if it is not one, forged or expired. */
export function srsReverse(address: string, keys: SrsKeys, now = Date.now()): string | null {
  const at = address.lastIndexOf('@');
  if (at < 1 || address.slice(at + 1).toLowerCase() !== keys.domain.toLowerCase()) return null;
  const m = /^SRS0[=+-]([^=]{4})=([^=]{2})=([^=]+)=(.+)$/i.exec(address.slice(0, at));
  if (!m) return null;
  const [, h, ts, domain, local] = m as unknown as [string, string, string, string, string];
  const want = Buffer.from(hash(keys.secret, ts, domain, local));
  const got = Buffer.from(h);
  // Case-insensitive MTAs may lower-case the local part; compare the hash case-insensitively as postsrsd does.
  const same = want.length === got.length && (timingSafeEqual(want, got) || want.toString().toLowerCase() === got.toString().toLowerCase());
  if (!same) return null;
  const age = stampAge(ts, now);
  if (age === null || age > SRS_MAX_AGE_DAYS) return null;
  return `${local}@${domain}`;
}
