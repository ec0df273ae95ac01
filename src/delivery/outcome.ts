// The failure policy in one pure module (Postfix smtp_trouble.c is the model): given what one
// delivery attempt produced for a recipient, decide delivered / next-host / defer / bounce and
// name the rule that decided. Covered by a table of real server replies in test/unit.

export type OutcomeAction = 'delivered' | 'next-host' | 'defer' | 'bounce';

export interface AttemptResult {
  /** SMTP reply code, when the server answered. */
  responseCode?: number | undefined;
  /** Full reply text (e.g. "550 5.1.1 <x@y>: user unknown") or local error text. */
  response?: string | undefined;
  /** nodemailer error code: ECONNECTION, ETIMEDOUT, ESOCKET, ETLS, EDNS, EENVELOPE, EMESSAGE, EPROTOCOL … */
  errorCode?: string | undefined;
  /** SMTP stage that failed: CONN, EHLO, STARTTLS, MAIL FROM, RCPT TO, DATA … */
  command?: string | undefined;
  accepted?: boolean | undefined;
}

export interface Outcome {
  action: OutcomeAction;
  rule: string;
  /** Enhanced status for the DSN / queue listing (e.g. "5.1.1", "4.4.1"). */
  status: string;
  diagnostic: string;
}

const SESSION_STAGES = new Set(['CONN', 'GREETING', 'EHLO', 'HELO', 'STARTTLS', 'LHLO']);
const CONNECTION_ERRORS = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'ECONNREFUSED', 'EPROTOCOL']);

function enhancedOf(text: string | undefined, fallback: string): string {
  const m = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(text ?? '');
  return m?.[1] ?? fallback;
}

export function classifyOutcome(r: AttemptResult, ctx: { lastHost: boolean; softBounce: boolean }): Outcome {
  const diagnostic = (r.response ?? '').slice(0, 500);
  if (r.accepted) return { action: 'delivered', rule: 'accepted', status: '2.0.0', diagnostic };
  const code = r.responseCode;
  const tempOrNext = (rule: string, status: string): Outcome =>
    ctx.lastHost
      ? { action: 'defer', rule: `${rule}; no more hosts`, status, diagnostic }
      : { action: 'next-host', rule, status, diagnostic };

  if (!code) {
    // No reply at all: the host is unreachable or broke the session; another host may do better.
    if (r.errorCode && CONNECTION_ERRORS.has(r.errorCode)) return tempOrNext(`connection:${r.errorCode}`, '4.4.1');
    return tempOrNext(`local:${r.errorCode ?? 'unknown'}`, '4.4.0');
  }
  if (code >= 400 && code < 500) {
    // A 4xx before the transaction (greeting, EHLO, STARTTLS) speaks for the host, not the message.
    if (r.command && SESSION_STAGES.has(r.command)) return tempOrNext(`4xx-at-${r.command}`, enhancedOf(r.response, '4.4.2'));
    return { action: 'defer', rule: `4xx-at-${r.command ?? 'unknown'}`, status: enhancedOf(r.response, '4.0.0'), diagnostic };
  }
  if (code >= 500) {
    if (r.command && SESSION_STAGES.has(r.command)) {
      // A host that refuses us at EHLO may be one misconfigured member of a set.
      return tempOrNext(`5xx-at-${r.command}`, enhancedOf(r.response, '5.0.0').replace(/^5/, '4'));
    }
    if (ctx.softBounce) {
      return { action: 'defer', rule: `softBounce:5xx-at-${r.command ?? 'unknown'}`, status: enhancedOf(r.response, '5.0.0').replace(/^5/, '4'), diagnostic };
    }
    return { action: 'bounce', rule: `5xx-at-${r.command ?? 'unknown'}`, status: enhancedOf(r.response, '5.0.0'), diagnostic };
  }
  return tempOrNext(`unexpected-reply:${code}`, '4.5.0');
}
