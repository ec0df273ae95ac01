// Pure: the Authentication-Results header (RFC 8601) Sluice adds, and the test for received ones
// that claim to be ours (§5: a receiver removes those before adding its own, so a sender cannot
// forge our verdict). Input: our authserv-id and mailauth's per-method "info" strings.

const TOKEN = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+$/;

/** The authserv-id of a received Authentication-Results value (after CFWS), lower case. */
export function authservIdOf(value: string): string | null {
  let v = value.replace(/\r?\n[ \t]+/g, ' ').trim();
  // Leading comments are CFWS (RFC 8601 §2.2); they may nest.
  for (let guard = 0; v.startsWith('(') && guard < 10; guard++) {
    let depth = 0;
    let i = 0;
    for (; i < v.length; i++) {
      if (v[i] === '(') depth++;
      else if (v[i] === ')' && --depth === 0) break;
    }
    v = v.slice(i + 1).trim();
  }
  const quoted = /^"((?:[^"\\]|\\.)*)"/.exec(v);
  if (quoted) return (quoted[1] ?? '').replace(/\\(.)/g, '$1').toLowerCase();
  const id = /^[^\s;(]+/.exec(v)?.[0];
  return id ? id.toLowerCase() : null;
}

export function claimsAuthservId(value: string, ours: string): boolean {
  return authservIdOf(value) === ours.toLowerCase();
}

/**
 * One value for all methods in the order: spf, dkim (one per signature), dmarc, arc.
 * A method mailauth did not report is "none". Results are folded one per line.
 */
export function authResultsValue(authservId: string, info: { spf: string | null; dkim: readonly string[]; dmarc: string | null; arc: string | null }): string {
  const id = TOKEN.test(authservId) ? authservId : `"${authservId.replace(/["\\]/g, '\\$&')}"`;
  const parts = [info.spf ?? 'spf=none', ...(info.dkim.length ? info.dkim : ['dkim=none']), info.dmarc ?? 'dmarc=none', info.arc ?? 'arc=none'];
  return [id, ...parts.map((p) => p.replace(/\r?\n/g, ' ').replace(/\s+/g, ' ').trim())].join(';\r\n\t');
}
