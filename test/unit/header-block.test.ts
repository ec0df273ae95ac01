// The received header block parser (exact bytes and offsets), header edits (stored block and
// omitted ranges, header injection guard) and the spool's omitted-range reader.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { HeaderBlockCollector, parseHeaderBlock, readHeaderBlock } from '../../src/filters/header-block.js';
import { applyHeaderEdits, headerLine } from '../../src/filters/header-edits.js';
import { keptBytes, keptRanges } from '../../src/queue/omit.js';

const buf = (s: string) => Buffer.from(s, 'latin1');

describe('header block parser', () => {
  const rows: { name: string; input: string; fields: [string, string][]; complete: boolean; length?: number }[] = [
    { name: 'simple fields', input: 'From: a@b\r\nTo: c@d\r\n\r\nbody', fields: [['From', 'a@b'], ['To', 'c@d']], complete: true, length: 22 },
    { name: 'folded value is unfolded, line kept raw', input: 'Subject: one\r\n two\r\n\tthree\r\n\r\n', fields: [['Subject', 'one two\tthree']], complete: true },
    { name: 'no space after the colon', input: 'X-A:b\r\n\r\n', fields: [['X-A', 'b']], complete: true },
    { name: 'empty value', input: 'X-Empty:\r\n\r\n', fields: [['X-Empty', '']], complete: true },
    { name: 'no body: block ends at the end', input: 'From: a@b\r\n', fields: [['From', 'a@b']], complete: false },
    { name: 'a line without a colon is not a field', input: 'garbage line\r\nFrom: a@b\r\n\r\n', fields: [['From', 'a@b']], complete: true },
    { name: 'a leading continuation line is not a field', input: ' orphan\r\nFrom: a@b\r\n\r\n', fields: [['From', 'a@b']], complete: true },
    { name: 'UTF-8 values decode', input: Buffer.from('Subject: Grüße\r\n\r\n', 'utf8').toString('latin1'), fields: [['Subject', 'Grüße']], complete: true },
    { name: 'empty message', input: '', fields: [], complete: false, length: 0 },
    { name: 'body right away', input: '\r\nbody', fields: [], complete: true, length: 2 },
  ];
  for (const r of rows) {
    test(r.name, () => {
      const b = parseHeaderBlock(buf(r.input));
      assert.deepEqual(b.fields.map((f) => [f.name, f.value]), r.fields);
      assert.equal(b.complete, r.complete);
      if (r.length !== undefined) assert.equal(b.length, r.length);
      for (const f of b.fields) assert.equal(buf(r.input).subarray(f.start, f.end).toString('latin1'), f.line, 'offsets point at the exact bytes');
    });
  }

  test('readHeaderBlock stops at the empty line even when it is split across chunks', async () => {
    const chunks = ['From: a@b\r\n', '\r', '\n', 'body'.repeat(10)].map(buf);
    const b = await readHeaderBlock(Readable.from(chunks), 1 << 20);
    assert.equal(b.complete, true);
    assert.deepEqual(b.fields.map((f) => f.name), ['From']);
  });

  test('readHeaderBlock with a bound drops the field the bound cut', async () => {
    const b = await readHeaderBlock(Readable.from([buf('From: a@b\r\nSubject: ' + 'x'.repeat(100) + '\r\n\r\n')]), 40);
    assert.equal(b.complete, false);
    assert.deepEqual(b.fields.map((f) => f.name), ['From']);
  });
});

describe('header block collected from the DATA chunks', () => {
  // The listener parses the block from the chunks as they arrive: whatever the chunking, the
  // result must be the block of the whole message (what reading the spooled copy gives).
  const messages = [
    'From: a@b\r\nSubject: one\r\n two\r\n\r\nbody\r\nmore: not a header\r\n',
    '\r\nFrom: body, not a header\r\n',
    'From: a@b\r\n',
    'X: 1\r\n\r\n',
    '',
    'From: a@b\r\nSubject: ' + 'x'.repeat(60) + '\r\n\r\nbody',
  ];
  const bounds = [1 << 20, 40, 12];
  for (const [m, msg] of messages.entries()) {
    for (const bound of bounds) {
      test(`message ${m}, bound ${bound}: every two-cut chunking gives the whole message's block`, async () => {
        const whole = buf(msg);
        // Reference: the block of the first `bound` bytes; a field the bound cut is not reported.
        const cut = parseHeaderBlock(whole.subarray(0, bound));
        const want = cut.complete || whole.length < bound ? cut : { fields: cut.fields.slice(0, -1), length: cut.fields.at(-2)?.end ?? 0, complete: false };
        assert.deepEqual(await readHeaderBlock(Readable.from(whole.length ? [whole] : []), bound), want);
        for (let i = 0; i <= whole.length; i++) {
          for (let j = i; j <= whole.length; j += 3) {
            const c = new HeaderBlockCollector(bound);
            for (const part of [whole.subarray(0, i), whole.subarray(i, j), whole.subarray(j)]) c.push(part);
            assert.deepEqual(c.block(), want, `cuts at ${i} and ${j}`);
          }
        }
      });
    }
  }

  test('stops keeping chunks once the empty line is in', () => {
    const c = new HeaderBlockCollector(1 << 20);
    c.push(buf('From: a@b\r\n\r'));
    assert.equal(c.full, false);
    c.push(buf('\nbody'));
    assert.equal(c.full, true);
    c.push(buf('X-Late: 1\r\n\r\n'));
    assert.deepEqual(c.block().fields.map((f) => f.name), ['From']);
  });
});

describe('header edits', () => {
  const received = parseHeaderBlock(buf('X-Remove: 1\r\nFrom: a@b\r\nx-remove: 2\r\nSubject: s\r\n\r\n')).fields;
  const stamp = 'Received: from x by y\r\n';

  test('add goes in front of our Received stamp, in order', () => {
    const e = applyHeaderEdits(stamp, received, [{ op: 'add', name: 'X-A', value: '1' }, { op: 'add', name: 'X-B', value: '2' }]);
    assert.equal(e.headers, 'X-A: 1\r\nX-B: 2\r\n' + stamp);
    assert.deepEqual(e.omit, []);
  });

  test('remove leaves out every received field of that name (any case) and keeps the stamp', () => {
    const e = applyHeaderEdits(stamp, received, [{ op: 'remove', name: 'X-REMOVE' }]);
    assert.equal(e.headers, stamp);
    assert.deepEqual(e.omit, [[0, 13], [24, 37]]);
  });

  test('set replaces a received field and one an earlier filter added', () => {
    const e = applyHeaderEdits(stamp, received, [{ op: 'add', name: 'Subject', value: 'early' }, { op: 'set', name: 'subject', value: '[SPAM] s' }]);
    assert.equal(e.headers, 'subject: [SPAM] s\r\n' + stamp);
    assert.deepEqual(e.omit, [[37, 49]]);
  });

  test('a value cannot start a header of its own; folding survives', () => {
    assert.equal(headerLine('X-A', 'a\r\nBcc: evil@x'), 'X-A: a Bcc: evil@x\r\n');
    assert.equal(headerLine('X-A', 'a\nB: c\rD'), 'X-A: a B: c D\r\n');
    assert.equal(headerLine('X-A', 'a\r\n b'), 'X-A: a\r\n b\r\n');
  });

  test('applied edits read back as the edited message', () => {
    const raw = buf('X-Remove: 1\r\nFrom: a@b\r\nx-remove: 2\r\nSubject: s\r\n\r\nbody\r\n');
    const e = applyHeaderEdits(stamp, parseHeaderBlock(raw).fields, [{ op: 'remove', name: 'x-remove' }, { op: 'add', name: 'X-Scan', value: 'ok' }]);
    const out = e.headers + keptBytes(raw, e.omit).toString('latin1');
    assert.equal(out, 'X-Scan: ok\r\n' + stamp + 'From: a@b\r\nSubject: s\r\n\r\nbody\r\n');
  });
});

describe('omitted ranges', () => {
  const rows: { name: string; size: number; omit: [number, number][]; kept: [number, number][] }[] = [
    { name: 'none', size: 10, omit: [], kept: [[0, 10]] },
    { name: 'at the start', size: 10, omit: [[0, 3]], kept: [[3, 10]] },
    { name: 'two in the middle, unsorted', size: 10, omit: [[6, 7], [2, 4]], kept: [[0, 2], [4, 6], [7, 10]] },
    { name: 'overlapping', size: 10, omit: [[2, 6], [4, 8]], kept: [[0, 2], [8, 10]] },
    { name: 'past the end is clamped', size: 10, omit: [[8, 20]], kept: [[0, 8]] },
    { name: 'empty body', size: 0, omit: [], kept: [] },
  ];
  for (const r of rows) test(r.name, () => assert.deepEqual(keptRanges(r.size, r.omit), r.kept));
});
