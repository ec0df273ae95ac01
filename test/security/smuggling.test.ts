// SMTP smuggling battery: each non-standard end-of-data sequence is followed by a complete second
// transaction and only then by the real <CR><LF>.<CR><LF>. Sluice must treat the whole thing as one
// DATA (refused with 554 5.6.11 when it holds a bare CR or LF), never run the hidden commands, and
// never pass a bare CR/LF or an unstuffed dot line on to the smart host (checked on its raw bytes).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { bareNewlineAt, delay, openSession, startGateway, waitForToken, withToken, type Gateway } from '../helpers/security-fixtures.js';
import type { RawSmtp } from '../helpers/raw-smtp.js';

let gw: Gateway;
const token = () => `tok${randomBytes(6).toString('hex')}`;
const SPLIT_WRITE_GAP_MS = 15;

before(async () => {
  gw = await startGateway();
});

after(async () => {
  await gw?.stop();
});

/** Fake ends of data; `bare` says whether the sequence holds a bare CR or LF (then 554 5.6.11). */
const VARIANTS: { name: string; seq: string; bare: boolean }[] = [
  { name: '<LF>.<LF>', seq: '\n.\n', bare: true },
  { name: '<LF>.<CR><LF>', seq: '\n.\r\n', bare: true },
  { name: '<CR>.<CR><LF>', seq: '\r.\r\n', bare: true },
  { name: '<CR><LF>.<LF>', seq: '\r\n.\n', bare: true },
  { name: '<LF>.<CR>', seq: '\n.\r', bare: true },
  { name: '<CR>.<CR>', seq: '\r.\r', bare: true },
  { name: '<CR><LF>.<CR>', seq: '\r\n.\r', bare: true },
  { name: '<CR><LF>.<CR><CR><LF>', seq: '\r\n.\r\r\n', bare: true },
  { name: '<LF><CR>.<CR><LF>', seq: '\n\r.\r\n', bare: true },
  { name: '<CR><LF><NUL>.<CR><LF>', seq: '\r\n\0.\r\n', bare: false },
  { name: '<CR><LF>.<NUL><CR><LF>', seq: '\r\n.\0\r\n', bare: false },
  { name: '<CR><LF>.<SP><CR><LF>', seq: '\r\n. \r\n', bare: false },
];

/** Sends `data` in one write, or cut into pieces around the fake terminator (one TCP segment each). */
async function sendData(c: RawSmtp, data: string, split: boolean, cutAt: number): Promise<void> {
  if (!split) return c.write(Buffer.from(data, 'latin1'));
  const pieces = [data.slice(0, cutAt), ...data.slice(cutAt, cutAt + 6).split(''), data.slice(cutAt + 6)];
  for (const p of pieces) {
    c.write(Buffer.from(p, 'latin1'));
    await delay(SPLIT_WRITE_GAP_MS);
  }
}

describe('fake end-of-data sequences followed by a smuggled transaction', () => {
  for (const v of VARIANTS) {
    for (const split of [false, true]) {
      test(`${v.name}${split ? ' split across TCP segments' : ''} smuggles nothing`, async () => {
        const t = token();
        const c = await openSession(gw.sluice.port);
        await c.cmd('MAIL FROM:<sender@example.org>');
        assert.match(await c.cmd(`RCPT TO:<outer-${t}@contoso.com>`), /^250 /);
        assert.match(await c.cmd('DATA'), /^354 /);
        const head = `Subject: outer ${t}\r\n\r\nfirst part`;
        const hidden = `MAIL FROM:<evil@example.org>\r\nRCPT TO:<injected-${t}@contoso.com>\r\nDATA\r\nSubject: injected ${t}\r\n\r\ninjected\r\n`;
        await sendData(c, head + v.seq + hidden + '\r\n.\r\n', split, head.length - 2);
        const dataReply = await c.reply();
        if (v.bare) assert.match(dataReply, /^554 5\.6\.11 /, 'a bare CR or LF is refused');
        else assert.match(dataReply, /^250 /);
        // Had the hidden MAIL/RCPT/DATA run as commands, their replies would come before NOOP's.
        assert.match(await c.cmd('NOOP'), /^250 2\.0\.0 /, 'the next reply belongs to NOOP');
        c.close();
        if (!v.bare) {
          const got = await waitForToken(gw.onprem, t);
          assert.deepEqual(got.rcptTo, [`outer-${t}@contoso.com`], 'one message, to the outer recipient only');
          assert.equal(bareNewlineAt(got.raw), -1, 'no bare CR/LF passed on');
        } else {
          await delay(150);
        }
        const all = [...gw.onprem.messages, ...gw.internet.messages];
        assert.ok(withToken(gw.onprem, t).length <= 1, 'at most one message');
        assert.ok(!all.some((m) => m.rcptTo.includes(`injected-${t}@contoso.com`)), 'the injected transaction never arrived');
      });
    }
  }
});

describe('what Sluice passes on', () => {
  test('<CR><CR><LF>.<CR><LF> holds a real end of data: the bare CR is refused and what follows is an ordinary, policed transaction', async () => {
    // "\r" + "\r\n.\r\n" contains the standard terminator, so every SMTP server ends DATA there; the
    // danger is only the bare CR before it. Sluice refuses that message; the commands after it are the
    // client's own next transaction, judged by the relay policy like any other (not a smuggled one).
    const t = token();
    const c = await openSession(gw.sluice.port);
    await c.cmd('MAIL FROM:<sender@example.org>');
    await c.cmd(`RCPT TO:<outer-${t}@contoso.com>`);
    await c.cmd('DATA');
    c.write(
      `Subject: outer ${t}\r\n\r\nfirst part\r\r\n.\r\n` +
        `MAIL FROM:<evil@example.org>\r\nRCPT TO:<victim-${t}@fabrikam.com>\r\nRCPT TO:<second-${t}@contoso.com>\r\nDATA\r\n` +
        `Subject: second ${t}\r\n\r\nsecond\r\n.\r\n`,
    );
    const replies = [];
    for (let i = 0; i < 6; i++) replies.push((await c.reply()).slice(0, 3));
    assert.deepEqual(replies, ['554', '250', '550', '250', '354', '250']);
    c.close();
    const got = await waitForToken(gw.onprem, t);
    assert.deepEqual(got.rcptTo, [`second-${t}@contoso.com`], 'only the second, policed transaction arrived');
    assert.ok(!got.raw.includes(`outer ${t}`), 'nothing of the refused message');
    assert.equal(bareNewlineAt(got.raw), -1);
    await delay(150);
    assert.equal(withToken(gw.onprem, t).length, 1);
    assert.equal(withToken(gw.internet, t).length, 0, 'the foreign recipient was refused');
  });

  test('a dot-stuffed line that looks like an end of data is re-stuffed on the way out', async () => {
    const t = token();
    const c = await openSession(gw.sluice.port);
    await c.cmd('MAIL FROM:<sender@example.org>');
    await c.cmd(`RCPT TO:<stuffed-${t}@contoso.com>`);
    await c.cmd('DATA');
    // The client dot-stuffs "." as ".."; Sluice stores "." and must stuff it again for the smart host,
    // or the smart host would end the message there and run the lines after it as commands.
    c.write(`Subject: stuffed ${t}\r\n\r\nbefore\r\n..\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<injected-${t}@contoso.com>\r\nDATA\r\n..hidden\r\n.\r\n`);
    assert.match(await c.reply(), /^250 /);
    c.close();
    const got = await waitForToken(gw.onprem, t);
    const text = got.raw.toString('latin1');
    assert.deepEqual(got.rcptTo, [`stuffed-${t}@contoso.com`]);
    assert.ok(text.endsWith(`before\r\n.\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<injected-${t}@contoso.com>\r\nDATA\r\n.hidden\r\n`), JSON.stringify(text.slice(-120)));
    assert.equal(bareNewlineAt(got.raw), -1);
    await delay(200);
    assert.equal(withToken(gw.onprem, t).length, 1, 'exactly one message');
    assert.ok(!gw.onprem.messages.some((m) => m.rcptTo.includes(`injected-${t}@contoso.com`)));
  });

  test('a session refused with 554 still delivers its next, clean message byte-for-byte', async () => {
    const t = token();
    const c = await openSession(gw.sluice.port);
    await c.cmd('MAIL FROM:<sender@example.org>');
    await c.cmd(`RCPT TO:<again-${t}@contoso.com>`);
    await c.cmd('DATA');
    c.write(`Subject: bad ${t}\r\n\r\nbare\nlf\r\n.\r\n`);
    assert.match(await c.reply(), /^554 5\.6\.11 /);
    await c.cmd('MAIL FROM:<sender@example.org>');
    await c.cmd(`RCPT TO:<again-${t}@contoso.com>`);
    await c.cmd('DATA');
    const clean = `Subject: good ${t}\r\n\r\nline one\r\nline two\r\n`;
    c.write(clean + '.\r\n');
    assert.match(await c.reply(), /^250 /);
    c.close();
    const got = await waitForToken(gw.onprem, t);
    assert.ok(got.raw.toString('latin1').endsWith(clean), 'the clean body arrives intact');
    await delay(200);
    assert.equal(withToken(gw.onprem, t).length, 1, 'only the clean message arrived');
  });

  test('no message the smart hosts received during the battery holds a bare CR or LF', async () => {
    const all = [...gw.onprem.messages, ...gw.internet.messages];
    assert.ok(all.length > 0);
    for (const m of all) assert.equal(bareNewlineAt(m.raw), -1, `bare newline in message to ${m.rcptTo.join(',')}`);
    assert.equal(gw.internet.messages.length, 0);
  });
});
