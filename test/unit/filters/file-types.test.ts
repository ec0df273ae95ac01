// The common attachment filter's judgement: by name and by magic bytes (an .exe renamed .pdf),
// inside zip archives one level (built by a real zip writer), and its verdicts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { extensionOf, fileTypeVerdict, fileTypesFilter, inspectPart, judge } from '../../../src/filters/file-types.js';
import { listZip } from '../../../src/filters/zip-entries.js';
import { CONTENT_DEFAULTS } from '../../../src/config/sections/content.js';
import type { ContentContext, MimePart, MimeSummary } from '../../../src/filters/contract.js';
import { makeZip, peExecutable } from '../../helpers/attachments.js';

const blocked = new Set(CONTENT_DEFAULTS.malwareFilter.fileTypes);
const PDF = Buffer.from('%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n');

const part = (filename: string | null, content: Buffer, contentType = 'application/octet-stream', truncated = false): MimePart => ({
  path: '2',
  contentType,
  filename,
  disposition: 'attachment',
  size: content.length,
  depth: 1,
  content,
  truncated,
});

describe('extension and judgement', () => {
  const rows: { name: string; input: string | null; expected: string | null }[] = [
    { name: 'last extension, lower case', input: 'Invoice.PDF.EXE', expected: 'exe' },
    { name: 'a path inside an archive', input: 'dir/sub/run.js', expected: 'js' },
    { name: 'no extension', input: 'README', expected: null },
    { name: 'a trailing dot', input: 'x.', expected: null },
    { name: 'no name', input: null, expected: null },
  ];
  for (const row of rows) test(row.name, () => assert.equal(extensionOf(row.input), row.expected));

  test('content beats a harmless name', () => {
    assert.deepEqual(judge([{ name: 'report.pdf', sniffed: 'exe', where: 'report.pdf' }], blocked), { type: 'exe', where: 'report.pdf', by: 'content' });
  });
  test('a blocked name is caught without content', () => {
    assert.deepEqual(judge([{ name: 'run.vbs', sniffed: null, where: 'run.vbs' }], blocked), { type: 'vbs', where: 'run.vbs', by: 'name' });
  });
  test('a real pdf named .pdf passes', () => {
    assert.equal(judge([{ name: 'a.pdf', sniffed: 'pdf', where: 'a.pdf' }], blocked), null);
  });
});

describe('inspecting parts (file-type and yauzl)', () => {
  test('an .exe renamed .pdf is sniffed as exe', async () => {
    const r = await inspectPart(part('invoice.pdf', peExecutable(), 'application/pdf'));
    assert.deepEqual(judge(r.items, blocked), { type: 'exe', where: 'invoice.pdf', by: 'content' });
  });
  test('a real pdf is sniffed as pdf and passes', async () => {
    const r = await inspectPart(part('invoice.pdf', PDF, 'application/pdf'));
    assert.equal(r.items[0]?.sniffed, 'pdf');
    assert.equal(judge(r.items, blocked), null);
  });
  test('an .exe inside a zip is caught', async () => {
    const zip = makeZip([{ name: 'docs/readme.txt', content: Buffer.from('hi') }, { name: 'setup.exe', content: peExecutable() }]);
    const r = await inspectPart(part('files.zip', zip, 'application/zip'));
    assert.deepEqual(judge(r.items, blocked), { type: 'exe', where: 'files.zip/setup.exe', by: 'content' });
  });
  test('an .exe renamed .txt inside a zip named .dat is caught by content', async () => {
    const zip = makeZip([{ name: 'notes.txt', content: peExecutable() }]);
    const r = await inspectPart(part('archive.dat', zip));
    assert.equal(r.items[0]?.sniffed, 'zip');
    assert.deepEqual(judge(r.items, blocked), { type: 'exe', where: 'archive.dat/notes.txt', by: 'content' });
  });
  test('a zip of harmless files passes', async () => {
    const zip = makeZip([{ name: 'a.txt', content: Buffer.from('hello') }, { name: 'b.pdf', content: PDF }]);
    const r = await inspectPart(part('ok.zip', zip, 'application/zip'));
    assert.equal(judge(r.items, blocked), null);
    assert.equal(r.unreadable, null);
  });
  test('a corrupt zip is reported as unreadable, not clean', async () => {
    const r = await inspectPart(part('broken.zip', Buffer.from('PK\u0003\u0004 not really a zip')));
    assert.notEqual(r.unreadable, null);
  });
  test('a truncated zip is not looked into and says so', async () => {
    const zip = makeZip([{ name: 'a.txt', content: Buffer.from('hello') }]);
    const r = await inspectPart(part('big.zip', zip, 'application/zip', true));
    assert.match(r.unreadable ?? '', /too large/);
  });
  test('listZip bounds the entries it reads', async () => {
    const zip = makeZip(Array.from({ length: 1_005 }, (_, i) => ({ name: `f${i}.txt`, content: Buffer.from('x') })));
    const l = await listZip(zip);
    assert.equal(l.entries.length, 1_000);
    assert.match(l.error ?? '', /more than 1000 entries/);
  });
});

describe('verdicts and the filter', () => {
  test('Reject is 550 5.7.1 naming the type', () => {
    assert.deepEqual(fileTypeVerdict({ type: 'exe', where: 'a.pdf', by: 'content' }, 'Reject').action, {
      kind: 'reject',
      code: 550,
      enhanced: '5.7.1',
      text: 'Message rejected: file type blocked (exe)',
    });
  });
  test('Quarantine holds as FileTypeBlock', () => {
    const a = fileTypeVerdict({ type: 'exe', where: 'a.pdf', by: 'content' }, 'Quarantine').action;
    assert.equal(a.kind === 'quarantine' && a.type, 'FileTypeBlock');
  });
  const ctx = (summary: MimeSummary) => ({ message: { mime: async () => summary } }) as unknown as ContentContext;
  const filter = fileTypesFilter(CONTENT_DEFAULTS.malwareFilter);
  test('the filter ignores the text body and judges attachments', async () => {
    const text: MimePart = { ...part(null, Buffer.from('hello')), contentType: 'text/plain', disposition: null };
    const v = await filter.content!(ctx({ parts: [text, part('x.pdf', peExecutable())], limited: false, limitReason: null }));
    assert.equal(v.action.kind, 'reject');
    const ok = await filter.content!(ctx({ parts: [text], limited: false, limitReason: null }));
    assert.equal(ok.action.kind, 'accept');
  });
  test('a MIME parse stopped by a limit is not read as clean', async () => {
    const v = await filter.content!(ctx({ parts: [], limited: true, limitReason: 'too many parts' }));
    assert.equal(v.action.kind, 'reject');
    assert.match(v.reason, /uninspectable/);
  });
});
