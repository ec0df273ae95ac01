// Limits and resource abuse, bounded: over-long lines, NUL and control bytes, recipient floods,
// oversized messages, connection floods, idle, slow and vanishing clients, pipelined garbage. Each case
// checks the reply and what the smart hosts got; the daemon's RSS, open files and spool stay bounded
// and it keeps serving other clients throughout (a normal message is delivered at the end).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import path from 'node:path';
import { RawSmtp } from '../helpers/raw-smtp.js';
import { delay, openSession, startGateway, stillServing, track, vmRssKb, waitForToken, withToken, type Gateway } from '../helpers/security-fixtures.js';

const IDLE_TIMEOUT_MS = 2_000;
const MAX_RECIPIENTS = 100;
const MAX_PER_IP = 20;
const MAX_MESSAGE_BYTES = 64 * 1024;
/**
 * RSS the abuse below may add to the daemon. Measured ~37 MiB on Node 20 and ~50 MiB on Node 24,
 * whose V8 keeps more heap; both are V8 growth, not the 16 MB message held in memory (four
 * buffered copies would pass 64 MiB; bench/ proves streaming).
 */
const RSS_GROWTH_LIMIT_KB = 64 * 1024;

let gw: Gateway;
let rssBeforeKb = 0;
const token = () => `tok${randomBytes(6).toString('hex')}`;
const openFiles = () => readdirSync(`/proc/${gw.sluice.proc.pid}/fd`).length;
const spoolTmpFiles = () => readdirSync(path.join(gw.sluice.dir, 'spool', 'queue')).filter((f) => f.endsWith('.tmp'));

before(async () => {
  gw = await startGateway({
    limits: { maxMessageSize: MAX_MESSAGE_BYTES, maxRecipients: MAX_RECIPIENTS, maxConnectionsPerIp: MAX_PER_IP, idleTimeout: '2s' },
  });
  // Warm up (first TLS context, first delivery pool) so the baseline is not the cold process.
  await sendNormal('warmup');
  rssBeforeKb = vmRssKb(gw.sluice.proc.pid!);
});

after(async () => {
  await gw?.stop();
});

async function sendNormal(label: string, localAddress?: string): Promise<string> {
  const t = token();
  const c = await openSession(gw.sluice.port, localAddress ? { localAddress } : {});
  await c.cmd('MAIL FROM:<sender@example.org>');
  assert.match(await c.cmd(`RCPT TO:<${label}-${t}@contoso.com>`), /^250 /);
  await c.cmd('DATA');
  c.write(`Subject: ${label} ${t}\r\n\r\nnormal\r\n.\r\n`);
  assert.match(await c.reply(), /^250 /);
  c.close();
  await waitForToken(gw.onprem, t);
  return t;
}

describe('over-long lines', () => {
  test('a 600-byte command line (over RFC 5321\'s 512) is answered and the session goes on', async () => {
    const c = await openSession(gw.sluice.port);
    assert.match(await c.cmd(`EHLO ${'a'.repeat(600)}.example`), /^501 /);
    assert.match(await c.cmd(`MAIL FROM:<${'s'.repeat(600)}@example.org>`), /^5\d\d /);
    assert.match(await c.cmd('MAIL FROM:<sender@example.org>'), /^250 /);
    assert.match(await c.cmd(`RCPT TO:<${'r'.repeat(600)}@contoso.com>`), /^5\d\d /);
    assert.match(await c.cmd('NOOP'), /^250 /);
    c.close();
  });

  test('a command line over 16 KB gets 421 and the connection is closed', async () => {
    const c = await openSession(gw.sluice.port);
    assert.match(await c.cmd(`NOOP ${'x'.repeat(17 * 1024)}`), /^421 .*too long/i);
    await delay(100);
    assert.ok(c.closed, 'closed');
  });

  test('16 KB without any line end gets 421 too: a partial line cannot grow without bound', async () => {
    const c = await openSession(gw.sluice.port);
    c.write('X'.repeat(20 * 1024));
    assert.match(await c.reply(), /^421 /);
  });

  test('a 5,000-byte header line (over 998) leaves in continuation lines of at most 998 octets, never split into new headers', async () => {
    const t = token();
    const c = await openSession(gw.sluice.port);
    await c.cmd('MAIL FROM:<sender@example.org>');
    await c.cmd(`RCPT TO:<long-${t}@contoso.com>`);
    await c.cmd('DATA');
    const body = `Subject: long ${t}\r\nX-Long: ${'y'.repeat(2500)}Bcc: victim@fabrikam.com${'z'.repeat(2500)}\r\n\r\nbody\r\n`;
    c.write(body + '.\r\n');
    assert.match(await c.reply(), /^250 /);
    c.close();
    const got = (await waitForToken(gw.onprem, t)).raw.toString('latin1');
    const lines = got.split('\r\n');
    assert.ok(lines.every((l) => l.length <= 998), 'no line over 998 octets leaves Sluice');
    assert.ok(!lines.some((l) => l.startsWith('Bcc:')), 'the tail of the line never became a header');
    // Folded at whitespace where there is some, else broken with CRLF SP (Postfix's smtp_line_length_limit):
    // the characters are all kept, in order.
    const squeeze = (x: string) => x.replace(/\r\n[ \t]/g, '').replace(/ /g, '');
    assert.ok(squeeze(got).endsWith(squeeze(body)), 'the value is kept, only broken');
    await delay(150);
    assert.equal(withToken(gw.internet, t).length, 0);
  });
});

describe('NUL, control bytes and unknown commands', () => {
  test('NUL and control bytes in commands each get a 5xx reply and change nothing', async () => {
    const c = await openSession(gw.sluice.port);
    const lines = ['\0\0\0', 'EHLO \x01\x02', 'MAIL FROM:<a\0b@example.org>', 'NOOP\0', '\x1b[31mRSET', '\x7f\x08DATA'];
    for (const l of lines) assert.match(await c.cmd(l), /^5\d\d /, JSON.stringify(l));
    assert.match(await c.cmd('RCPT TO:<john@contoso.com>'), /^503 /, 'no MAIL FROM was taken from a poisoned line');
    c.close();
  });

  test('unknown and disabled commands get 5xx replies, the tenth unrecognized one 421 and a close', async () => {
    const c = await openSession(gw.sluice.port);
    const unknown = ['EXPN staff', 'TURN', 'ETRN contoso.com', 'BDAT 10 LAST', 'AUTH PLAIN AGFkbWluAHNlY3JldA==', 'XCLIENT ADDR=127.0.0.2', 'FOO', 'GET', '   '];
    for (const u of unknown) assert.match(await c.cmd(u), /^5\d\d /, u);
    // smtp-server counts only commands it does not know at all (XCLIENT and AUTH are known but off).
    let last = '';
    for (let i = 0; i < 10 && !last.startsWith('421'); i++) last = await c.cmd(`BAR${i}`);
    assert.match(last, /^421 .*unrecognized/);
    await delay(100);
    assert.ok(c.closed);
  });

  test('a pipelined burst of 2,000 garbage lines ends in 421 and a closed connection', async () => {
    const c = await openSession(gw.sluice.port);
    const garbage = Array.from({ length: 2_000 }, () => randomBytes(40).toString('latin1').replace(/[\r\n]/g, '?')).join('\r\n') + '\r\n';
    c.write(Buffer.from(garbage, 'latin1'));
    const replies: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await c.reply();
      if (!r) break;
      replies.push(r);
    }
    assert.ok(replies.length <= 10, `at most 10 replies, got ${replies.length}`);
    assert.match(replies.at(-1) ?? '', /^421 /);
    assert.ok(replies.slice(0, -1).every((r) => /^5\d\d /.test(r)), replies.join(' | '));
  });
});

describe('recipient and size limits', () => {
  test(`1,000 pipelined recipients: the first ${MAX_RECIPIENTS} are taken, the rest get 452 4.5.3`, async () => {
    const t = token();
    const c = await openSession(gw.sluice.port);
    const rcpts = Array.from({ length: 1_000 }, (_, i) => `RCPT TO:<r${i}-${t}@contoso.com>\r\n`).join('');
    c.write(`MAIL FROM:<sender@example.org>\r\n${rcpts}`);
    assert.match(await c.reply(), /^250 /);
    const codes = new Map<string, number>();
    for (let i = 0; i < 1_000; i++) {
      const r = await c.reply();
      const key = r.slice(0, 9);
      codes.set(key, (codes.get(key) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(codes), { '250 2.1.5': MAX_RECIPIENTS, '452 4.5.3': 1_000 - MAX_RECIPIENTS });
    await c.cmd('DATA');
    c.write(`Subject: many ${t}\r\n\r\nx\r\n.\r\n`);
    assert.match(await c.reply(), /^250 /);
    c.close();
    const got = await waitForToken(gw.onprem, t);
    assert.equal(got.rcptTo.length, MAX_RECIPIENTS);
  });

  test('a 200 KB message over a 64 KB limit gets 552 5.3.4 and is relayed nowhere', async () => {
    const t = token();
    const c = await openSession(gw.sluice.port);
    await c.cmd('MAIL FROM:<sender@example.org>');
    await c.cmd(`RCPT TO:<big-${t}@contoso.com>`);
    await c.cmd('DATA');
    c.write(`Subject: big ${t}\r\n\r\n` + `${'b'.repeat(998)}\r\n`.repeat(200) + '.\r\n');
    assert.match(await c.reply(), /^552 5\.3\.4 /);
    c.close();
    await delay(300);
    assert.equal(withToken(gw.onprem, t).length + withToken(gw.internet, t).length, 0);
  });

  test('a 16 MB message is refused with 552 while it streams, and another client is served meanwhile', async () => {
    const t = token();
    const c = await openSession(gw.sluice.port);
    await c.cmd('MAIL FROM:<sender@example.org>');
    await c.cmd(`RCPT TO:<huge-${t}@contoso.com>`);
    await c.cmd('DATA');
    const line = `${'h'.repeat(1022)}\r\n`;
    c.write(`Subject: huge ${t}\r\n\r\n`);
    const other = sendNormal('during-huge', '127.0.0.5');
    for (let i = 0; i < 16; i++) {
      c.write(line.repeat(1024));
      await delay(5);
    }
    c.write('.\r\n');
    assert.match(await c.reply(30_000), /^552 5\.3\.4 /);
    await other;
    c.close();
    assert.equal(withToken(gw.onprem, t).length, 0);
    assert.ok(vmRssKb(gw.sluice.proc.pid!) - rssBeforeKb < RSS_GROWTH_LIMIT_KB, 'RSS stays bounded while it streams');
  });
});

describe('connections and timeouts', () => {
  test(`connections past maxConnectionsPerIp (${MAX_PER_IP}) get 421 4.7.0; other addresses and later ones are served`, async () => {
    const conns = await Promise.all(Array.from({ length: MAX_PER_IP + 10 }, () => RawSmtp.connect(gw.sluice.port, { localAddress: '127.0.0.9' }).then(track)));
    const greetings = await Promise.all(conns.map((c) => c.reply()));
    assert.equal(greetings.filter((g) => g.startsWith('220')).length, MAX_PER_IP);
    assert.equal(greetings.filter((g) => /^421 4\.7\.0 /.test(g)).length, 10);
    await sendNormal('other-ip', '127.0.0.10');
    for (const c of conns) c.close();
    await delay(300);
    const again = await openSession(gw.sluice.port, { localAddress: '127.0.0.9' });
    again.close();
  });

  test('an idle client is dropped with 421 after idleTimeout (2 s)', async () => {
    const c = await openSession(gw.sluice.port);
    const t0 = Date.now();
    assert.match(await c.reply(IDLE_TIMEOUT_MS * 3), /^421 4\.4\.2 .*Timeout/);
    const waited = Date.now() - t0;
    assert.ok(waited >= IDLE_TIMEOUT_MS - 200 && waited < IDLE_TIMEOUT_MS * 2, `dropped after ${waited} ms`);
  });

  test('a client that stalls in the middle of a command line is dropped after idleTimeout', async () => {
    const c = await openSession(gw.sluice.port);
    c.write('MAIL FROM:<sender@exa');
    assert.match(await c.reply(IDLE_TIMEOUT_MS * 3), /^421 /);
  });

  test('a client trickling DATA slower than idleTimeout is dropped, and its partial message is discarded', async () => {
    const t = token();
    const c = await openSession(gw.sluice.port);
    await c.cmd('MAIL FROM:<sender@example.org>');
    await c.cmd(`RCPT TO:<slow-${t}@contoso.com>`);
    await c.cmd('DATA');
    c.write(`Subject: slow ${t}\r\n\r\n`);
    await delay(IDLE_TIMEOUT_MS / 2);
    c.write('a');
    assert.match(await c.reply(IDLE_TIMEOUT_MS * 3), /^421 /);
    await delay(300);
    assert.equal(withToken(gw.onprem, t).length, 0);
    assert.deepEqual(spoolTmpFiles(), [], 'no partial spool file left behind');
  });

  test('twenty clients vanishing mid-DATA leave no open spool files or .tmp files behind', async () => {
    const before = openFiles();
    for (let i = 0; i < 20; i++) {
      const c = await openSession(gw.sluice.port);
      await c.cmd('MAIL FROM:<sender@example.org>');
      await c.cmd('RCPT TO:<gone@contoso.com>');
      await c.cmd('DATA');
      c.write('Subject: vanishing\r\n\r\n' + 'v'.repeat(10_000));
      await delay(20);
      (c.socket as Socket).resetAndDestroy();
    }
    await delay(500);
    assert.deepEqual(spoolTmpFiles(), []);
    assert.ok(openFiles() <= before + 2, `open files ${before} → ${openFiles()}`);
  });
});

test('after the abuse the daemon is alive, its memory bounded, and a normal message is delivered', async (t) => {
  assert.ok(await stillServing(gw.sluice));
  await sendNormal('final');
  const growth = vmRssKb(gw.sluice.proc.pid!) - rssBeforeKb;
  t.diagnostic(`daemon RSS ${rssBeforeKb} KiB before the abuse, ${rssBeforeKb + growth} KiB after`);
  assert.ok(growth < RSS_GROWTH_LIMIT_KB, `RSS grew by ${growth} KiB`);
  assert.equal(gw.internet.messages.length, 0, 'nothing was relayed');
  assert.equal(gw.sluice.stderr, '');
});
