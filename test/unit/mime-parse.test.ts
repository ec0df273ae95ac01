// The one bounded MIME parse filters share: real MIME built by nodemailer's composer, decoded
// parts, embedded messages, and each limit (parts, depth, bytes, per-part bound) stopping it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import { MIME_LIMITS, parseMime } from '../../src/filters/mime-parse.js';
import { createMessageView } from '../../src/filters/message-view.js';
import { parseHeaderBlock } from '../../src/filters/header-block.js';

async function compose(mail: Record<string, unknown>): Promise<Buffer> {
  const t = nodemailer.createTransport({ streamTransport: true, buffer: true });
  const info = (await t.sendMail({ from: 'a@fabrikam.com', to: 'u@contoso.com', subject: 't', ...mail })) as unknown as { message: Buffer };
  return info.message;
}

const parse = (b: Buffer, limits = MIME_LIMITS) => parseMime(Readable.from([b]), limits);
const binary = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 256));

describe('bounded MIME parse', () => {
  test('a multipart message: each leaf decoded, with type, filename and disposition', async () => {
    const raw = await compose({ text: 'hello text', html: '<p>hello</p>', attachments: [{ filename: 'data.bin', content: binary, contentType: 'application/octet-stream' }] });
    const m = await parse(raw);
    assert.equal(m.limited, false);
    const byType = Object.fromEntries(m.parts.map((p) => [p.contentType, p]));
    assert.equal(byType['text/plain']?.content.toString(), 'hello text');
    assert.equal(byType['text/html']?.content.toString(), '<p>hello</p>');
    const att = byType['application/octet-stream']!;
    assert.equal(att.filename, 'data.bin');
    assert.equal(att.disposition, 'attachment');
    assert.ok(att.content.equals(binary), 'base64 decoded to the exact bytes');
    assert.equal(att.size, binary.length);
  });

  test('an embedded message is parsed one level deeper', async () => {
    const inner = await compose({ text: 'inner', attachments: [{ filename: 'x.txt', content: 'X' }] });
    const raw = await compose({ text: 'outer', attachments: [{ filename: 'fwd.eml', content: inner, contentType: 'message/rfc822' }] });
    const m = await parse(raw);
    const x = m.parts.find((p) => p.filename === 'x.txt');
    assert.ok(x, 'the attachment inside the embedded message is a part');
    assert.ok(x!.depth > m.parts.find((p) => p.content.toString() === 'outer')!.depth);
  });

  test('a part over the per-part bound is kept truncated, its size still counted', async () => {
    const m = await parse(await compose({ attachments: [{ filename: 'big.bin', content: binary }] }), { ...MIME_LIMITS, maxPartBytes: 100 });
    const p = m.parts.find((x) => x.filename === 'big.bin')!;
    assert.equal(p.content.length, 100);
    assert.equal(p.truncated, true);
    assert.equal(p.size, binary.length);
    assert.equal(m.limited, false);
  });

  const limits: { name: string; limits: Partial<typeof MIME_LIMITS>; reason: RegExp }[] = [
    { name: 'part count', limits: { maxParts: 3 }, reason: /more than 3 MIME parts/ },
    { name: 'total bytes', limits: { maxBytes: 1000 }, reason: /larger than 1000 bytes/ },
  ];
  for (const l of limits) {
    test(`the ${l.name} limit stops the parse and says so`, async () => {
      const raw = await compose({ text: 't', attachments: Array.from({ length: 6 }, (_, i) => ({ filename: `f${i}.bin`, content: binary })) });
      const m = await parse(raw, { ...MIME_LIMITS, ...l.limits });
      assert.equal(m.limited, true);
      assert.match(m.limitReason!, l.reason);
    });
  }

  test('the depth limit stops a deeply nested message', async () => {
    let msg = await compose({ text: 'core' });
    for (let i = 0; i < 5; i++) msg = await compose({ text: `level ${i}`, attachments: [{ filename: `l${i}.eml`, content: msg, contentType: 'message/rfc822' }] });
    const m = await parse(msg, { ...MIME_LIMITS, maxDepth: 4 });
    assert.equal(m.limited, true);
    assert.match(m.limitReason!, /nesting deeper than 4/);
  });

  test('broken base64 ends that part without failing the parse', async () => {
    const raw = Buffer.from('Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@not base64!!!\r\n');
    const m = await parse(raw);
    assert.equal(m.parts.length, 1);
  });

  test('the message view parses once, however many filters ask', async () => {
    const raw = await compose({ text: 'once' });
    let opens = 0;
    const view = createMessageView({ queueId: 'Q', size: raw.length, block: parseHeaderBlock(raw), open: () => (opens++, Readable.from([raw])) });
    const [a, b] = await Promise.all([view.mime(), view.mime()]);
    assert.equal(a, b);
    assert.equal(opens, 1);
    assert.equal(view.headers.find((h) => h.name === 'Subject')?.value, 't');
  });
});
