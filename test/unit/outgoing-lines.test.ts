// Where a message leaves Sluice: header lines folded to 998 octets, long body lines broken,
// organisation headers removed or turned into cross-premises headers. Tables over the pure parts.
import { describe, test } from 'node:test';
import { Readable } from 'node:stream';
import assert from 'node:assert/strict';
import { BodyLineLimiter, foldHeaderBlock, MAX_LINE_OCTETS } from '../../src/delivery/outgoing/line-limit.js';
import { fromDomain, joinFields, splitFields } from '../../src/delivery/outgoing/header-fields.js';
import { outboundOrgHeaders, withoutOrgHeaders } from '../../src/delivery/outgoing/org-headers.js';
import { OutgoingMessages } from '../../src/delivery/outgoing/outgoing.js';
import { WholeBody } from '../../src/queue/whole-body.js';
import type { Model, OutboundConnector } from '../../src/domain/model.js';
import type { SpoolRecord } from '../../src/queue/record.js';

const lines = (text: string): string[] => text.split('\r\n').filter((l, i, all) => i < all.length - 1 || l !== '');
const longest = (text: string): number => Math.max(...lines(text).map((l) => l.length));
/** RFC 5322 unfolding: a CRLF followed by whitespace is removed. */
const unfold = (text: string): string => text.replace(/\r\n(?=[ \t])/g, '');

const words = (n: number): string => Array.from({ length: n }, (_, i) => `word${i}`).join(' ');

const foldCases: { name: string; block: string; unchanged?: boolean }[] = [
  { name: 'leaves a block of short lines byte for byte', block: 'Subject: hi\r\nTo: a@b.c\r\n', unchanged: true },
  { name: 'leaves a line of exactly 998 octets alone', block: `X-A: ${'a'.repeat(MAX_LINE_OCTETS - 5)}\r\n`, unchanged: true },
  { name: 'folds a 2000-octet line of words at whitespace', block: `Subject: ${words(300)}\r\nTo: a@b.c\r\n` },
  { name: 'folds a long continuation line', block: `Subject: short\r\n ${words(300)}\r\n` },
  { name: 'breaks a 3000-octet run without whitespace as a continuation', block: `X-Blob: ${'z'.repeat(3000)}\r\n` },
];

for (const c of foldCases) {
  test(`foldHeaderBlock ${c.name}`, () => {
    const out = foldHeaderBlock(c.block);
    if (c.unchanged) return assert.equal(out, c.block);
    assert.ok(longest(out) <= MAX_LINE_OCTETS, `longest line ${longest(out)}`);
    // Folding adds no field: every new line is a continuation.
    assert.equal(splitFields(out).length, splitFields(c.block).length);
    if (/z{100}/.test(c.block)) assert.equal(unfold(out).replace(/ /g, ''), unfold(c.block).replace(/ /g, ''));
    else assert.equal(unfold(out), unfold(c.block));
  });
}

test('a folded line never starts a new field, even when the text after the cut looks like one', () => {
  const block = `Subject: ${'a '.repeat(495)}Bcc: victim@example.org ${words(100)}\r\n`;
  const out = foldHeaderBlock(block);
  assert.ok(lines(out).slice(1).every((l) => l.startsWith(' ') || l.startsWith('\t')));
  assert.deepEqual(splitFields(out).map((f) => f.name), ['Subject']);
});

const limit = (chunks: string[]): string => {
  const l = new BodyLineLimiter();
  return Buffer.concat(chunks.flatMap((c) => l.push(Buffer.from(c, 'latin1')))).toString('latin1');
};

const bodyCases: { name: string; chunks: string[]; expected: string }[] = [
  { name: 'passes short lines through', chunks: ['hello\r\nworld\r\n'], expected: 'hello\r\nworld\r\n' },
  { name: 'keeps a 998-octet line whole', chunks: ['a'.repeat(998) + '\r\n'], expected: 'a'.repeat(998) + '\r\n' },
  { name: 'breaks a 999-octet line with CRLF SP', chunks: ['a'.repeat(999) + '\r\n'], expected: 'a'.repeat(998) + '\r\n a\r\n' },
  { name: 'counts across chunk boundaries', chunks: ['a'.repeat(500), 'a'.repeat(500) + '\r', '\n'], expected: 'a'.repeat(998) + '\r\n aa\r\n' },
  { name: 'does not count the CR of a CRLF split over two chunks', chunks: ['a'.repeat(998) + '\r', '\nb\r\n'], expected: 'a'.repeat(998) + '\r\nb\r\n' },
];
for (const c of bodyCases) {
  test(`BodyLineLimiter ${c.name}`, () => assert.equal(limit(c.chunks), c.expected));
}

test('BodyLineLimiter leaves no line over 998 octets in a 5000-octet line', () => {
  const out = limit(['x'.repeat(5000) + '\r\nend\r\n']);
  assert.ok(longest(out) <= MAX_LINE_OCTETS);
  assert.equal(out.replace(/\r\n /g, ''), 'x'.repeat(5000) + '\r\nend\r\n');
});

const orgBlock =
  'Received: from x\r\n' +
  'X-MS-Exchange-Organization-AuthAs: Internal\r\n' +
  'x-ms-exchange-organization-scl: 1\r\n' +
  'X-MS-Exchange-CrossPremises-AuthAs: Internal\r\n' +
  'Subject: hi\r\n';

test('without cloudServicesMailEnabled organisation and cross-premises headers are removed at the boundary', () => {
  const out = joinFields(outboundOrgHeaders(splitFields(orgBlock), false));
  assert.equal(out, 'Received: from x\r\nSubject: hi\r\n');
});

test('with cloudServicesMailEnabled organisation headers become cross-premises headers, values kept', () => {
  const out = joinFields(outboundOrgHeaders(splitFields(orgBlock), true));
  assert.equal(
    out,
    'Received: from x\r\nX-MS-Exchange-CrossPremises-AuthAs: Internal\r\nX-MS-Exchange-CrossPremises-scl: 1\r\nSubject: hi\r\n',
  );
});

const fromCases: [string, string | null][] = [
  ['From: Ann <ann@Contoso.COM>\r\n', 'contoso.com'],
  ['From: ann@contoso.com\r\n', 'contoso.com'],
  ['From: "A, B" (comment) <a@fabrikam.com>\r\n', 'fabrikam.com'],
  ['Subject: none\r\n', null],
];
for (const [block, expected] of fromCases) {
  test(`fromDomain reads ${JSON.stringify(block.trim())} as ${expected}`, () => assert.equal(fromDomain(splitFields(block)), expected));
}

test('a DSN returns the header block without organisation headers and the body untouched', () => {
  const msg = Buffer.from(orgBlock + '\r\nX-MS-Exchange-Organization-AuthAs: in the body\r\n', 'latin1');
  assert.equal(withoutOrgHeaders(msg).toString('latin1'), 'Received: from x\r\nSubject: hi\r\n\r\nX-MS-Exchange-Organization-AuthAs: in the body\r\n');
  const clean = Buffer.from('Subject: hi\r\n\r\nbody\r\n');
  assert.equal(withoutOrgHeaders(clean), clean);
});

describe('OutgoingMessages.body: the stream that leaves', () => {
  // No DKIM key: the rewrite is one Transform stage over the spool stream.
  const model = { dkimSigning: [], inboundConnectors: [] } as unknown as Model;
  const record = { id: 'Q1', client: { inbound: null } } as unknown as SpoolRecord;
  const connector = (cloud: boolean) => ({ name: 'out', cloudServicesMailEnabled: cloud }) as unknown as OutboundConnector;
  const head = 'X-MS-Exchange-Organization-AuthAs: Anonymous\r\nFrom: a@contoso.com\r\nX-MS-Exchange-CrossPremises-SCL: 1\r\nSubject: ' + 's'.repeat(1200) + '\r\n';
  const body = '\r\nline one\r\n' + 'b'.repeat(2500) + '\r\n.dot\r\n';
  const msg = Buffer.from(head + body, 'latin1');
  const expected = (cloud: boolean) =>
    foldHeaderBlock(joinFields(outboundOrgHeaders(splitFields(head), cloud))) + limit([body]);
  const read = async (r: Readable) => {
    const parts: Buffer[] = [];
    for await (const c of r) parts.push(c as Buffer);
    return Buffer.concat(parts).toString('latin1');
  };

  for (const cloud of [false, true]) {
    test(`every cut of the spool stream gives the same bytes (cloudServicesMailEnabled ${cloud})`, async () => {
      const out = new OutgoingMessages();
      for (let i = 0; i <= msg.length; i += 37) {
        for (const j of [i, i + 1, i + 2, i + 3, msg.length]) {
          const chunks = [msg.subarray(0, i), msg.subarray(i, Math.max(i, j)), msg.subarray(Math.max(i, j))].filter((c) => c.length);
          const got = await read(out.body(model, record, connector(cloud), () => Readable.from(chunks))());
          assert.equal(got, expected(cloud), `cuts at ${i}, ${j}`);
        }
      }
    });
  }

  for (const cloud of [false, true]) {
    test(`a body held whole (the first attempt's cache) gives the same bytes, in one Buffer of its own (cloudServicesMailEnabled ${cloud})`, async () => {
      const r = new OutgoingMessages().body(model, record, connector(cloud), () => new WholeBody(msg))();
      assert.ok(r instanceof WholeBody && r.transferable, 'the delivery thread may take it without a copy');
      assert.equal(r.whole.buffer.byteLength, r.whole.length, 'not a slice of a shared pool');
      assert.equal(r.whole.toString('latin1'), expected(cloud));
      assert.equal(await read(r), expected(cloud), 'read as a stream, too');
      assert.equal(msg.toString('latin1'), head + body, 'the cached bytes are not changed');
    });
  }

  test('a body held whole without an empty line is all header block', () => {
    const r = new OutgoingMessages().body(model, record, connector(false), () => new WholeBody(Buffer.from(head, 'latin1')))() as WholeBody;
    assert.equal(r.whole.toString('latin1'), foldHeaderBlock(joinFields(outboundOrgHeaders(splitFields(head), false))));
  });

  test('a message without an empty line is all header block', async () => {
    const got = await read(new OutgoingMessages().body(model, record, connector(false), () => Readable.from([Buffer.from(head, 'latin1')]))());
    assert.equal(got, foldHeaderBlock(joinFields(outboundOrgHeaders(splitFields(head), false))));
  });

  test('a spool read error reaches the reader, and destroying the result closes the spool stream', async () => {
    const failing = new Readable({ read() { this.destroy(new Error('EIO: spool read')); } });
    await assert.rejects(read(new OutgoingMessages().body(model, record, connector(false), () => failing)()), /EIO/);
    // A spool stream that gives its head and then waits (the delivery is cut off mid-body).
    let pushed = false;
    const src = new Readable({ read() { if (!pushed) this.push(Buffer.from('From: a@b\r\n\r\nbody\r\n')); pushed = true; } });
    const r = new OutgoingMessages().body(model, record, connector(false), () => src)();
    await new Promise((res) => r.once('data', res));
    r.destroy();
    await new Promise((res) => setImmediate(res));
    assert.equal(src.destroyed, true);
  });
});

test('BodyLineLimiter gives the same bytes as a whole-message reference for any chunking', () => {
  // Reference: every line's content cut after 998 octets, then every 997 (the inserted SP counts).
  const reference = (text: string) =>
    text
      .split('\r\n')
      .map((line) => {
        const parts = [line.slice(0, MAX_LINE_OCTETS)];
        for (let i = MAX_LINE_OCTETS; i < line.length; i += MAX_LINE_OCTETS - 1) parts.push(line.slice(i, i + MAX_LINE_OCTETS - 1));
        return parts.join('\r\n ');
      })
      .join('\r\n');
  const text = ['short', 'a'.repeat(998), 'b'.repeat(999), 'c'.repeat(2500), '', 'd'.repeat(997)].join('\r\n') + '\r\n';
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  for (let round = 0; round < 200; round++) {
    const chunks: string[] = [];
    for (let at = 0; at < text.length; ) {
      const n = 1 + rnd(round % 2 ? 40 : 1500);
      chunks.push(text.slice(at, at + n));
      at += n;
    }
    assert.equal(limit(chunks), reference(text), `round ${round}`);
  }
});
