// The disclaimer action (applyHtmlDisclaimerText): a streaming MIME rewrite of the message as it
// leaves, so the spool keeps the bytes as received. The message body — the first text/plain and
// the first text/html part that are not attachments — gets the text appended or prepended; the
// HTML part gets it as HTML, the plain part as text. A message that cannot take one (signed or
// encrypted, or no text body) gets the rule's fallback: Wrap (a new message with the disclaimer
// and the original attached), Ignore, or Reject (decided at DATA, see canTakeDisclaimer).
import { PassThrough, pipeline, type Readable, type Transform } from 'node:stream';
import { Joiner, Rewriter, Splitter } from '@zone-eu/mailsplit';
import type { BodyTransform, MimeSummary } from '../filters/contract.js';

type DisclaimerTransform = Extract<BodyTransform, { kind: 'disclaimer' }>;
type WrapTransform = Extract<BodyTransform, { kind: 'wrap' }>;

const SEALED = /^(application\/(pkcs7-mime|x-pkcs7-mime|pkcs7-signature|x-pkcs7-signature|pgp-encrypted|pgp-signature))$/;

/** Whether the body can take a disclaimer without breaking a signature or an encryption. */
export function canTakeDisclaimer(mime: MimeSummary): boolean {
  if (mime.parts.some((p) => SEALED.test(p.contentType))) return false;
  return mime.parts.some((p) => isBody(p.contentType, p.disposition, p.filename));
}

const isBody = (type: string | false, disposition: string | false | null, filename: string | false | null) =>
  (type === 'text/plain' || type === 'text/html') && disposition !== 'attachment' && !filename;

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
/** The plain-text rendering of a disclaimer written in HTML (EOP allows simple tags). */
export const disclaimerText = (html: string) =>
  html
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<\/p>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .trim();
const looksHtml = (s: string) => /<[a-z][^>]*>/i.test(s);

export function insertHtml(html: string, disclaimer: string, location: 'Append' | 'Prepend'): string {
  const block = `<div class="sluice-disclaimer">${looksHtml(disclaimer) ? disclaimer : escapeHtml(disclaimer)}</div>`;
  if (location === 'Append') {
    const i = html.search(/<\/body\s*>/i);
    return i < 0 ? `${html}${block}` : `${html.slice(0, i)}${block}${html.slice(i)}`;
  }
  const m = /<body[^>]*>/i.exec(html);
  return m ? `${html.slice(0, m.index + m[0].length)}${block}${html.slice(m.index + m[0].length)}` : `${block}${html}`;
}

export function insertText(text: string, disclaimer: string, location: 'Append' | 'Prepend'): string {
  const plain = disclaimerText(disclaimer);
  return location === 'Append' ? `${text.replace(/\s*$/, '')}\r\n\r\n${plain}\r\n` : `${plain}\r\n\r\n${text}`;
}

function decodeCharset(buf: Buffer, charset: string | false): { text: string; recoded: boolean } {
  const cs = (charset || 'us-ascii').toLowerCase();
  if (cs === 'utf-8' || cs === 'utf8' || cs === 'us-ascii') return { text: buf.toString('utf8'), recoded: false };
  try {
    return { text: new TextDecoder(cs).decode(buf), recoded: true };
  } catch {
    return { text: buf.toString('latin1'), recoded: true };
  }
}

function applyDisclaimer(src: Readable, t: DisclaimerTransform): Readable {
  const seen = new Set<string>();
  const rewriter = new Rewriter((node) => {
    const type = node.contentType;
    if (!isBody(type, node.disposition, node.filename) || seen.has(type as string)) return false;
    // Not inside an attached message: its body is someone else's.
    for (let p = node.parentNode; p; p = p.parentNode) if (p.contentType === 'message/rfc822') return false;
    seen.add(type as string);
    return true;
  });
  rewriter.on('node', ({ node, decoder, encoder }) => {
    const chunks: Buffer[] = [];
    decoder.on('data', (c: Buffer) => chunks.push(c));
    decoder.on('end', () => {
      const { text, recoded } = decodeCharset(Buffer.concat(chunks), node.charset);
      if (recoded || !node.charset) node.setCharset('utf-8');
      const out = node.contentType === 'text/html' ? insertHtml(text, t.text, t.location) : insertText(text, t.text, t.location);
      encoder.end(Buffer.from(out, 'utf8'));
    });
  });
  const out = new PassThrough();
  // pipeline() carries an error of any stage to `out`, so delivery sees a failed read, not a cut message.
  const asStream = (s: unknown) => s as Transform;
  pipeline(src, asStream(new Splitter()), asStream(rewriter), asStream(new Joiner()), out, () => undefined);
  return out;
}

const KEEP = /^(from|to|cc|subject|date|message-id|reply-to|sender|in-reply-to|references)$/i;

/** EOP's Wrap fallback: a new message that carries the disclaimer and the original as an attachment. */
function wrap(src: Readable, t: WrapTransform): Readable {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  src.on('data', (c: Buffer) => chunks.push(c));
  src.on('error', (err) => out.destroy(err));
  src.on('end', () => {
    const original = Buffer.concat(chunks);
    const end = original.indexOf('\r\n\r\n');
    const head = (end < 0 ? original : original.subarray(0, end)).toString('latin1');
    const kept: string[] = [];
    let current: string | null = null;
    for (const line of head.split('\r\n')) {
      if (/^[ \t]/.test(line) && current !== null) current += `\r\n${line}`;
      else {
        if (current !== null && KEEP.test(current.slice(0, current.indexOf(':')))) kept.push(current);
        current = line;
      }
    }
    if (current !== null && KEEP.test(current.slice(0, current.indexOf(':')))) kept.push(current);
    const boundary = `----sluice-wrap-${Math.random().toString(36).slice(2)}`;
    const body = disclaimerText(t.text);
    out.end(
      Buffer.concat([
        Buffer.from(
          `${kept.join('\r\n')}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n` +
            `--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${body}\r\n\r\n` +
            `--${boundary}\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename="original.eml"\r\n\r\n`,
          'latin1',
        ),
        original,
        Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1'),
      ]),
    );
  });
  return out;
}

/** Applies the stored transforms in order to the outgoing message stream. */
export function applyBodyTransforms(src: Readable, transforms: readonly BodyTransform[]): Readable {
  return transforms.reduce<Readable>((s, t) => (t.kind === 'disclaimer' ? applyDisclaimer(s, t) : wrap(s, t)), src);
}
