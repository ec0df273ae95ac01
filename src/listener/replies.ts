// The one place where a Verdict (or a local failure) becomes an SMTP reply for smtp-server.
// Our replies carry their own enhanced status code (EOP's 5.7.64, 5.7.51, …) at the start of the
// message; smtp-server would put its default code in front of it, so SluiceConnection.send()
// (connection.ts) sends a message that carriesEnhancedCode() as it is.
import type { Refuse, ReplyCode } from '../domain/verdict.js';

export interface SmtpReplyError extends Error {
  responseCode: number;
}

export function replyError(code: ReplyCode, enhanced: string, text: string): SmtpReplyError {
  const err = new Error(`${enhanced} ${text}`) as SmtpReplyError;
  err.responseCode = code;
  return err;
}

export const verdictError = (v: Refuse): SmtpReplyError => replyError(v.code, v.enhanced, v.text);

const HAS_ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;

/** True for a single-line reply text that starts with an RFC 3463 code, as replyError() builds them. */
export function carriesEnhancedCode(data: unknown): boolean {
  return typeof data === 'string' && HAS_ENHANCED.test(data);
}
