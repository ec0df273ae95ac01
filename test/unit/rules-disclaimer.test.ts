// The disclaimer rewrite: the text lands in both body parts, the result is still a valid MIME
// message (parsed back by an independent parser), attachments and attached messages are left alone.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { applyBodyTransforms, canTakeDisclaimer, insertHtml } from '../../src/rules/disclaimer.js';
import type { BodyTransform, MimePart } from '../../src/filters/contract.js';

const crlf = (s: string) => s.replace(/\r?\n/g, '\r\n');
const ALT = crlf(`From: ann@contoso.com
To: bob@fabrikam.com
Subject: hello
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="m"

--m
Content-Type: multipart/alternative; boundary="a"

--a
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe aus K=F6ln
--a
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

${Buffer.from('<html><body><p>Grüße aus Köln</p></body></html>').toString('base64')}
--a--
--m
Content-Type: text/plain; name="notes.txt"
Content-Disposition: attachment; filename="notes.txt"

attachment text stays
--m--
`);

async function collect(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const run = (msg: string, t: BodyTransform[]) => collect(applyBodyTransforms(Readable.from([Buffer.from(msg, 'latin1')]), t));

describe('disclaimer', () => {
  it('appends to the text and the HTML part, keeps charsets readable and attachments untouched', async () => {
    const out = await run(ALT, [{ kind: 'disclaimer', text: '<b>Confidential</b> – Contoso Ltd', location: 'Append' }]);
    const parsed = await simpleParser(out);
    assert.match(parsed.text ?? '', /Grüße aus Köln\s+Confidential – Contoso Ltd/);
    assert.match(String(parsed.html), /<p>Grüße aus Köln<\/p><div class="sluice-disclaimer"><b>Confidential<\/b> – Contoso Ltd<\/div><\/body>/);
    assert.equal(parsed.attachments.length, 1);
    assert.equal(parsed.attachments[0]?.content.toString(), 'attachment text stays');
    assert.equal(parsed.subject, 'hello');
    for (const line of out.toString('latin1').split('\r\n')) assert.ok(line.length <= 998);
  });

  it('prepends to a single-part plain message', async () => {
    const out = await run(crlf('From: a@contoso.com\nSubject: x\n\nBody line\n'), [{ kind: 'disclaimer', text: 'EXTERNAL', location: 'Prepend' }]);
    const parsed = await simpleParser(out);
    assert.match(parsed.text ?? '', /^EXTERNAL\s+Body line/);
  });

  it('Wrap puts the original in an attachment under the disclaimer', async () => {
    const signed = crlf('From: a@contoso.com\nTo: b@fabrikam.com\nSubject: signed\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\nContent-Transfer-Encoding: base64\n\nMIAGCSqGSIb3DQEHA6CAMIACAQAx\n');
    const out = await run(signed, [{ kind: 'wrap', text: 'This message could not carry the disclaimer' }]);
    const parsed = await simpleParser(out);
    assert.equal(parsed.subject, 'signed');
    assert.match(parsed.text ?? '', /could not carry the disclaimer/);
    assert.equal(parsed.attachments.length, 1);
    assert.equal(parsed.attachments[0]?.contentType, 'message/rfc822');
    assert.match(parsed.attachments[0]?.content.toString('latin1') ?? '', /MIAGCSqGSIb3DQEHA6CAMIACAQAx/);
  });

  it('canTakeDisclaimer: a text body yes, a sealed message no', () => {
    const part = (contentType: string, extra: Partial<MimePart> = {}): MimePart => ({
      path: '1', contentType, filename: null, disposition: null, size: 1, depth: 1, content: Buffer.alloc(0), truncated: false, ...extra,
    });
    assert.equal(canTakeDisclaimer({ parts: [part('text/plain')], limited: false, limitReason: null }), true);
    assert.equal(canTakeDisclaimer({ parts: [part('text/plain'), part('application/pkcs7-signature')], limited: false, limitReason: null }), false);
    assert.equal(canTakeDisclaimer({ parts: [part('image/png'), part('text/plain', { filename: 'a.txt' })], limited: false, limitReason: null }), false);
  });

  it('insertHtml without a body element', () => {
    assert.equal(insertHtml('<p>x</p>', 'a & b', 'Append'), '<p>x</p><div class="sluice-disclaimer">a &amp; b</div>');
  });
});
