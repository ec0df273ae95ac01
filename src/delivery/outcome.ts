// The failure policy in one pure module (Postfix smtp_trouble.c is the model): given what one
// delivery attempt produced for a recipient, decide delivered / next-host / defer / bounce and
// name the rule that decided. Covered by a table of real server replies in test/unit/outcome.test.ts.

export type OutcomeAction = 'delivered' | 'next-host' | 'defer' | 'bounce';

export interface AttemptResult {
  /** SMTP reply code, when the server answered. */
  responseCode?: number | undefined;
  /** Full reply text (e.g. "550 5.1.1 <x@y>: user unknown") or local error text. */
  response?: string | undefined;
  /** nodemailer error code: ECONNECTION, ETIMEDOUT, ESOCKET, ETLS, EENVELOPE, EMESSAGE …, or E_TLS_POLICY. */
  errorCode?: string | undefined;
  /** SMTP stage that failed, as nodemailer names it: CONN (greeting), EHLO, STARTTLS, MAIL FROM, RCPT TO, DATA … */
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

export interface OutcomeContext {
  /** No other host is left to try for this recipient in this attempt. */
  lastHost: boolean;
  /** Global `delivery.softBounce`: every permanent failure becomes a retry. */
  softBounce: boolean;
}

/** Stages before the mail transaction: a failure there speaks for the host, not the message. */
const SESSION_STAGES = new Set(['CONN', 'GREETING', 'EHLO', 'HELO', 'LHLO', 'STARTTLS']);
const TIMEOUTS = new Set(['ETIMEDOUT']);

function enhancedOf(text: string | undefined, fallback: string): string {
  const m = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(text ?? '');
  return m?.[1] ?? fallback;
}

const asTemporary = (status: string): string => status.replace(/^5/, '4');

/**
 * True when the failure says the host itself is unusable (unreachable, dropped us, or refused us
 * before the transaction): the caller marks it down and moves on. TLS policy refusals are ours, not
 * the host's, and a 421 in mid-transaction is the host closing, handled as a session failure too.
 */
export function isHostFailure(r: AttemptResult): boolean {
  if (r.accepted || r.errorCode === 'E_TLS_POLICY') return false;
  if (!r.responseCode) return r.errorCode !== undefined && r.errorCode !== 'EPOOLWAIT' && r.command !== 'API';
  return Boolean(r.command && SESSION_STAGES.has(r.command)) || r.responseCode === 421;
}

export function classifyOutcome(r: AttemptResult, ctx: OutcomeContext): Outcome {
  const diagnostic = (r.response ?? '').slice(0, 500);
  if (r.accepted) return { action: 'delivered', rule: 'accepted', status: '2.0.0', diagnostic };
  const code = r.responseCode;
  const stage = r.command ?? 'unknown';
  const tempOrNext = (rule: string, status: string): Outcome =>
    ctx.lastHost
      ? { action: 'defer', rule: `${rule}; no more hosts`, status, diagnostic }
      : { action: 'next-host', rule, status, diagnostic };
  const defer = (rule: string, status: string): Outcome => ({ action: 'defer', rule, status, diagnostic });
  const bounce = (rule: string, status: string): Outcome =>
    ctx.softBounce ? defer(`softBounce:${rule}`, asTemporary(status)) : { action: 'bounce', rule, status, diagnostic };

  if (r.errorCode === 'E_TLS_POLICY') return tempOrNext('tls-policy', enhancedOf(r.response, '4.4.317'));
  if (!code) {
    // No reply at all: the host is unreachable, timed out or broke the session; another may do better.
    if (r.errorCode === 'EPOOLWAIT') return defer('local:no-free-connection', '4.4.5');
    if (r.errorCode && TIMEOUTS.has(r.errorCode)) return tempOrNext(`connection:${r.errorCode}`, '4.4.2');
    if (r.errorCode && r.command !== 'API') return tempOrNext(`connection:${r.errorCode}`, '4.4.1');
    return defer(`local:${r.errorCode ?? 'unknown'}`, '4.3.0');
  }
  if (code === 421) {
    // 421 is the server closing the channel (RFC 5321 §3.8), at any stage: a session failure.
    return tempOrNext(`421-at-${stage}`, enhancedOf(r.response, '4.4.2'));
  }
  if (code >= 400 && code < 500) {
    if (SESSION_STAGES.has(stage)) return tempOrNext(`4xx-at-${stage}`, enhancedOf(r.response, '4.4.2'));
    return defer(`4xx-at-${stage}`, enhancedOf(r.response, '4.0.0'));
  }
  if (code >= 500 && code < 600) {
    // A host that refuses us before the transaction may be one bad member of a set (Postfix's
    // smtp_skip_5xx_greeting): try the next one, and only retry when none is left.
    if (SESSION_STAGES.has(stage)) return tempOrNext(`5xx-at-${stage}`, asTemporary(enhancedOf(r.response, '5.0.0')));
    // RFC 5321 §4.5.3.1.10: 552 to RCPT for too many recipients must be treated as 452.
    if (code === 552 && stage === 'RCPT TO' && /5\.5\.3|too many recipients/i.test(r.response ?? '')) {
      return defer('552-too-many-recipients-as-452', '4.5.3');
    }
    return bounce(`5xx-at-${stage}`, enhancedOf(r.response, '5.0.0'));
  }
  return tempOrNext(`unexpected-reply:${code}`, '4.5.0');
}

/** A permanent failure decided before any SMTP (null MX, NXDOMAIN), still subject to softBounce. */
export function permanentFailure(rule: string, status: string, diagnostic: string, ctx: Pick<OutcomeContext, 'softBounce'>): Outcome {
  return ctx.softBounce
    ? { action: 'defer', rule: `softBounce:${rule}`, status: asTemporary(status), diagnostic }
    : { action: 'bounce', rule, status, diagnostic };
}
