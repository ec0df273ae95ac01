// The one place where a Verdict (or a local failure) becomes an SMTP reply for smtp-server.
// smtp-server prefixes its own default enhanced code to a hook's error message; our replies
// carry EOP's codes (5.7.64, 5.7.51, …), so a message that already starts with an enhanced
// code is sent as-is (see installEnhancedCodePassthrough).
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
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
let installed = false;

export function installEnhancedCodePassthrough(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as {
    send(code: number, data: unknown, context?: unknown): void;
  };
  const original = proto.send;
  proto.send = function (this: unknown, code: number, data: unknown, context?: unknown) {
    const own = typeof data === 'string' && HAS_ENHANCED.test(data);
    return original.call(this, code, data, own ? false : context);
  };
}
