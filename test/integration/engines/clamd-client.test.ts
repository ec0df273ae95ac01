// The clamd client against a real clamd (test/helpers/clamd.ts): EICAR found inline and in a
// base64 MIME attachment, a clean message passes, a stream over StreamMaxLength is an error (not
// a pass), and a stopped clamd is a connect error; the filter's verdicts follow malwareFilter.action.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { startClamd, EICAR, EICAR_SIGNATURE, type Clamd } from '../../helpers/clamd.js';
import { ClamdError, ping, scanStream } from '../../../src/filters/clamd-client.js';
import { malwareVerdict } from '../../../src/filters/malware.js';
import type { ClamdAddress } from '../../../src/config/sections/content.js';

let clamd: Clamd;
let small: Clamd;
let addr: ClamdAddress;
const TIMEOUT_MS = 10_000;

const mail = (body: string) => `From: a@fabrikam.com\r\nTo: b@contoso.com\r\nSubject: t\r\n\r\n${body}\r\n`;
const attachment = (content: string) =>
  [
    'From: a@fabrikam.com',
    'To: b@contoso.com',
    'Subject: file',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain',
    '',
    'see attached',
    '--b1',
    'Content-Type: application/octet-stream; name="readme.txt"',
    'Content-Disposition: attachment; filename="readme.txt"',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from(content, 'latin1').toString('base64'),
    '--b1--',
    '',
  ].join('\r\n');

before(async () => {
  clamd = await startClamd();
  small = await startClamd({ streamMaxLength: '100K' });
  addr = { kind: 'tcp', host: clamd.host, port: clamd.port };
  console.log(`# clamd ready in ${clamd.startMs} ms (second instance ${small.startMs} ms)`);
});
after(async () => {
  await clamd?.stop();
  await small?.stop();
});

describe('clamd client', () => {
  test('answers PING', async () => {
    assert.equal(await ping(addr), true);
  });

  test('finds EICAR in the body of a plain message', async () => {
    const r = await scanStream(addr, Readable.from([Buffer.from(mail(EICAR), 'latin1')]), { timeoutMs: TIMEOUT_MS });
    assert.equal(r.kind, 'found');
    assert.match(r.kind === 'found' ? r.signature : '', new RegExp(`^${EICAR_SIGNATURE}`));
  });

  test('finds EICAR in a base64 attachment (clamd decodes MIME)', async () => {
    const r = await scanStream(addr, Readable.from([Buffer.from(attachment(EICAR), 'latin1')]), { timeoutMs: TIMEOUT_MS });
    assert.equal(r.kind, 'found');
  });

  test('passes a clean message streamed in many small chunks', async () => {
    const chunks = Array.from({ length: 300 }, (_, i) => Buffer.from(`line ${i} of a harmless message\r\n`));
    const r = await scanStream(addr, Readable.from(chunks), { timeoutMs: TIMEOUT_MS });
    assert.deepEqual(r, { kind: 'clean' });
  });

  test('a message over StreamMaxLength is a scan failure, not a pass', async () => {
    const big = Buffer.alloc(512 * 1024, 'a');
    await assert.rejects(
      scanStream({ kind: 'tcp', host: small.host, port: small.port }, Readable.from([big]), { timeoutMs: TIMEOUT_MS }),
      // clamd answers "INSTREAM size limit exceeded" and closes; when the close wins the race the
      // client sees EPIPE (E_CLAMD_REPLY). Either way it is a failure, never a clean result.
      (e: unknown) => e instanceof ClamdError && (e.code === 'E_CLAMD_LIMIT' || e.code === 'E_CLAMD_REPLY'),
    );
  });

  test('a stopped clamd is a connect error, and a restarted one scans again', async () => {
    await small.stop();
    await assert.rejects(
      scanStream({ kind: 'tcp', host: small.host, port: small.port }, Readable.from([Buffer.from(mail('hi'))]), { timeoutMs: TIMEOUT_MS }),
      (e: unknown) => e instanceof ClamdError && e.code === 'E_CLAMD_CONNECT',
    );
    await small.start();
    const r = await scanStream({ kind: 'tcp', host: small.host, port: small.port }, Readable.from([Buffer.from(mail('hi'))]), { timeoutMs: TIMEOUT_MS });
    assert.deepEqual(r, { kind: 'clean' });
  });

  test('a clamd that never answers is a timeout', async () => {
    const net = await import('node:net');
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const t0 = Date.now();
    await assert.rejects(
      scanStream({ kind: 'tcp', host: '127.0.0.1', port }, Readable.from([Buffer.from(mail('hi'))]), { timeoutMs: 300 }),
      (e: unknown) => e instanceof ClamdError && e.code === 'E_CLAMD_TIMEOUT',
    );
    assert.ok(Date.now() - t0 < 5_000);
    silent.close();
  });
});

describe('malware verdicts', () => {
  const found = { kind: 'found' as const, signature: 'Eicar-Test-Signature.UNOFFICIAL' };
  test('Reject gives 550 5.7.1 with the signature', () => {
    const v = malwareVerdict(found, 'Reject');
    assert.deepEqual(v.action, { kind: 'reject', code: 550, enhanced: '5.7.1', text: 'Message rejected: malware detected (Eicar-Test-Signature.UNOFFICIAL)' });
  });
  test('Quarantine holds the message as type Malware', () => {
    const v = malwareVerdict(found, 'Quarantine');
    assert.equal(v.action.kind, 'quarantine');
    assert.equal(v.action.kind === 'quarantine' && v.action.type, 'Malware');
  });
  test('clean accepts', () => {
    assert.equal(malwareVerdict({ kind: 'clean' }, 'Reject').action.kind, 'accept');
  });
});
