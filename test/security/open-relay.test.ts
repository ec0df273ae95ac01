// Open-relay battery: an anonymous sender on 127.0.0.1 tries every classic trick to make Sluice relay
// to a foreign domain. Each trick is followed, in the same transaction, by a canary recipient in the
// accepted domain, so the on-prem smart host proves the session worked and shows exactly which
// recipients went through; the "internet" smart host must receive nothing at all.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ACCEPTED, delay, openSession, startGateway, upgrade, Dialog, waitForToken, withToken, type Gateway } from '../helpers/security-fixtures.js';

let gw: Gateway;
/** The token of the one test that may cause a message to the internet: a success DSN to MAIL FROM. */
let dsnToken = '';
const token = () => `tok${randomBytes(6).toString('hex')}`;
const body = (t: string) => `Subject: relay trick ${t}\r\nFrom: <spam@example.org>\r\n\r\n${t}\r\n.\r\n`;

before(async () => {
  gw = await startGateway();
});

after(async () => {
  await gw?.stop();
});

/** Sluice's policy refusal, or smtp-server's own syntax refusal before the policy is even asked. */
const REFUSED = /^(?:550 5\.4\.1 Relay Access Denied|501 5\.1\.3 )/;

/** Recipients that must never leave for a foreign domain; `reply` is what Sluice must answer. */
const TRICKS: { name: string; rcpt: string; reply?: RegExp; utf8?: boolean }[] = [
  { name: 'a plain foreign recipient', rcpt: 'victim@fabrikam.com' },
  { name: 'the percent hack', rcpt: 'victim%fabrikam.com@contoso.com' },
  { name: 'a percent hack in the domain', rcpt: 'victim@fabrikam.com%contoso.com' },
  { name: 'a source route', rcpt: '@contoso.com:victim@fabrikam.com' },
  { name: 'a multi-hop source route', rcpt: '@contoso.com,@relay.example:victim@fabrikam.com' },
  { name: 'a bang path with a domain', rcpt: 'fabrikam.com!victim@contoso.com' },
  { name: 'a bare bang path', rcpt: 'fabrikam.com!victim', reply: /^5\d\d / },
  { name: 'a quoted local part hiding an "@"', rcpt: '"victim@fabrikam.com"@contoso.com' },
  { name: 'a quoted local part hiding a percent hack', rcpt: '"victim%fabrikam.com"@contoso.com' },
  { name: 'an escaped "@" in the local part', rcpt: 'victim\\@fabrikam.com@contoso.com', reply: /^5\d\d / },
  { name: 'user@foreign@contoso.com', rcpt: 'victim@fabrikam.com@contoso.com' },
  { name: 'the accepted domain as a local part (contoso.com@foreign)', rcpt: 'contoso.com@fabrikam.com' },
  { name: 'an IPv4 address literal', rcpt: 'victim@[192.0.2.1]' },
  { name: 'an IPv6 address literal', rcpt: 'victim@[IPv6:2001:db8::1]' },
  { name: 'postmaster at a loopback address literal', rcpt: 'postmaster@[127.0.0.1]' },
  { name: 'a bare IP address as domain', rcpt: 'victim@127.0.0.1' },
  { name: 'a decimal IP address as domain', rcpt: 'victim@2130706433' },
  { name: 'a trailing dot on a foreign domain', rcpt: 'victim@fabrikam.com.' },
  { name: 'a trailing dot on the accepted domain', rcpt: 'victim@contoso.com.' },
  { name: 'a mixed-case foreign domain', rcpt: 'Victim@FaBrIkAm.CoM' },
  { name: 'the accepted domain as a prefix of a foreign one', rcpt: 'victim@contoso.com.fabrikam.com' },
  { name: 'a look-alike of the accepted domain', rcpt: 'victim@contoso-com.fabrikam.com' },
  { name: 'an unaccepted subdomain of the accepted domain', rcpt: 'victim@relay.contoso.com' },
  { name: 'a punycode (IDN) foreign domain', rcpt: 'victim@xn--fabrkam-r2a.com' },
  { name: 'a Unicode (IDN) foreign domain', rcpt: 'victim@fabríkam.com', utf8: true },
  { name: 'a Cyrillic homograph of the accepted domain', rcpt: 'victim@cоntoso.com', utf8: true },
  { name: 'a full-width "@" in the local part', rcpt: 'victim＠fabrikam.com@contoso.com', utf8: true },
  { name: 'a full-width "%" in the local part', rcpt: 'victim％fabrikam.com@contoso.com', utf8: true },
  { name: 'a NUL before the accepted domain', rcpt: 'victim@fabrikam.com\u0000@contoso.com', reply: /^5\d\d / },
  { name: 'a NUL inside the foreign domain', rcpt: 'victim@fabrikam.com\u0000.contoso.com', reply: /^5\d\d / },
  { name: 'a very long address', rcpt: `${'v'.repeat(400)}@fabrikam.com`, reply: /^5\d\d / },
  { name: 'a very long foreign domain ending in the accepted one', rcpt: `victim@${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.contoso.com`, reply: /^5\d\d / },
];

describe('relay tricks from an anonymous sender are refused and the canary still arrives alone', () => {
  for (const trick of TRICKS) {
    test(`refuses ${trick.name}: <${trick.rcpt.replace(/\0/g, '\\0').slice(0, 60)}>`, async () => {
      const t = token();
      const c = await openSession(gw.sluice.port);
      assert.match(await c.cmd(`MAIL FROM:<spam@example.org>${trick.utf8 ? ' SMTPUTF8' : ''}`), /^250 /);
      const reply = await c.cmd(`RCPT TO:<${trick.rcpt}>`);
      assert.match(reply, trick.reply ?? REFUSED);
      assert.match(await c.cmd(`RCPT TO:<canary-${t}@${ACCEPTED}>`), /^250 /);
      assert.match(await c.cmd('DATA'), /^354 /);
      c.write(body(t));
      assert.match(await c.reply(), /^250 /);
      c.close();
      const got = await waitForToken(gw.onprem, t);
      assert.deepEqual(got.rcptTo, [`canary-${t}@${ACCEPTED}`], 'only the canary reached on-prem');
      assert.equal(withToken(gw.internet, t).length, 0, 'the internet received nothing');
    });
  }
});

describe('session games', () => {
  test('recipients accepted after a refused one carry no refused recipient along', async () => {
    const t = token();
    const c = await openSession(gw.sluice.port);
    await c.cmd('MAIL FROM:<spam@example.org>');
    assert.match(await c.cmd('RCPT TO:<a@fabrikam.com>'), /^550 /);
    assert.match(await c.cmd(`RCPT TO:<b-${t}@contoso.com>`), /^250 /);
    assert.match(await c.cmd('RCPT TO:<c@fabrikam.com>'), /^550 /);
    assert.match(await c.cmd(`RCPT TO:<D-${t}@CONTOSO.COM>`), /^250 /);
    await c.cmd('DATA');
    c.write(body(t));
    assert.match(await c.reply(), /^250 /);
    c.close();
    const got = await waitForToken(gw.onprem, t);
    assert.deepEqual(got.rcptTo.map((r) => r.toLowerCase()).sort(), [`b-${t}@contoso.com`, `d-${t}@contoso.com`]);
    assert.ok(got.rcptTo.every((r) => r.toLowerCase().endsWith('@contoso.com')));
  });

  test('RSET after a refused RCPT, then DATA, delivers nothing (503: no valid recipients)', async () => {
    const t = token();
    const c = await openSession(gw.sluice.port);
    await c.cmd('MAIL FROM:<spam@example.org>');
    assert.match(await c.cmd('RCPT TO:<victim@fabrikam.com>'), /^550 /);
    assert.match(await c.cmd('RSET'), /^250 /);
    assert.match(await c.cmd('MAIL FROM:<spam@example.org>'), /^250 /);
    assert.match(await c.cmd('DATA'), /^503 /);
    c.write(body(t));
    await delay(300);
    c.close();
    assert.equal(withToken(gw.onprem, t).length + withToken(gw.internet, t).length, 0);
  });

  test('an accepted RCPT does not survive RSET into a transaction whose only recipient is refused', async () => {
    const t = token();
    const c = await openSession(gw.sluice.port);
    await c.cmd('MAIL FROM:<spam@example.org>');
    assert.match(await c.cmd(`RCPT TO:<john@contoso.com>`), /^250 /);
    assert.match(await c.cmd('RSET'), /^250 /);
    await c.cmd('MAIL FROM:<spam@example.org>');
    assert.match(await c.cmd('RCPT TO:<victim@fabrikam.com>'), /^550 /);
    assert.match(await c.cmd('DATA'), /^503 /);
    c.write(body(t));
    await delay(300);
    c.close();
    assert.equal(withToken(gw.onprem, t).length + withToken(gw.internet, t).length, 0);
  });

  test('a second transaction in the same session is judged afresh', async () => {
    const t1 = token();
    const t2 = token();
    const c = await openSession(gw.sluice.port);
    await c.cmd('MAIL FROM:<spam@example.org>');
    await c.cmd(`RCPT TO:<first-${t1}@contoso.com>`);
    await c.cmd('DATA');
    c.write(body(t1));
    assert.match(await c.reply(), /^250 /);
    await c.cmd('MAIL FROM:<spam@example.org>');
    assert.match(await c.cmd('RCPT TO:<victim@fabrikam.com>'), /^550 5\.4\.1 /);
    assert.match(await c.cmd('DATA'), /^503 /);
    c.close();
    await waitForToken(gw.onprem, t1);
    assert.equal(withToken(gw.internet, t2).length + withToken(gw.internet, t1).length, 0);
  });

  test('a pipelined MAIL/RCPT/DATA batch relays only to the accepted recipient', async () => {
    const t = token();
    const c = await openSession(gw.sluice.port);
    c.write(
      'MAIL FROM:<spam@example.org>\r\nRCPT TO:<victim@fabrikam.com>\r\nRCPT TO:<victim%fabrikam.com@contoso.com>\r\n' +
        `RCPT TO:<ok-${t}@contoso.com>\r\nDATA\r\n${body(t)}QUIT\r\n`,
    );
    const replies = [];
    for (let i = 0; i < 7; i++) replies.push(await c.reply());
    assert.deepEqual(replies.map((r) => r.slice(0, 3)), ['250', '550', '550', '250', '354', '250', '221']);
    c.close();
    const got = await waitForToken(gw.onprem, t);
    assert.deepEqual(got.rcptTo, [`ok-${t}@contoso.com`]);
  });

  test('a pipelined batch whose DATA fails turns the body into commands that still cannot relay', async () => {
    const t = token();
    const c = await openSession(gw.sluice.port);
    // DATA is refused (no recipient), so every body line is parsed as a command, including a
    // second transaction hidden inside it: it must meet the same relay policy.
    c.write(
      'MAIL FROM:<spam@example.org>\r\nRCPT TO:<victim@fabrikam.com>\r\nDATA\r\n' +
        `RSET\r\nMAIL FROM:<ceo@contoso.com>\r\nRCPT TO:<victim2@fabrikam.com>\r\nDATA\r\nSubject: ${t}\r\n\r\n.\r\nQUIT\r\n`,
    );
    const replies = [];
    for (let i = 0; i < 10; i++) {
      const r = await c.reply();
      if (!r) break;
      replies.push(r.slice(0, 3));
    }
    assert.deepEqual(replies.slice(0, 7), ['250', '550', '503', '250', '250', '550', '503']);
    c.close();
    await delay(300);
    assert.equal(withToken(gw.onprem, t).length + withToken(gw.internet, t).length, 0);
  });

  test('a MAIL FROM in the accepted domain does not let an anonymous sender relay', async () => {
    const c = await openSession(gw.sluice.port);
    await c.cmd('MAIL FROM:<ceo@contoso.com>');
    assert.match(await c.cmd('RCPT TO:<victim@fabrikam.com>'), /^550 5\.4\.1 /);
    c.close();
  });

  test('the null sender from an anonymous session does not relay', async () => {
    const c = await openSession(gw.sluice.port);
    await c.cmd('MAIL FROM:<>');
    assert.match(await c.cmd('RCPT TO:<victim@fabrikam.com>'), /^550 5\.4\.1 /);
    c.close();
  });

  test('claiming the on-prem server in EHLO identifies nothing', async () => {
    const c = await openSession(gw.sluice.port, { ehlo: '[127.0.0.2]' });
    await c.cmd('MAIL FROM:<john@contoso.com>');
    assert.match(await c.cmd('RCPT TO:<victim@fabrikam.com>'), /^550 5\.4\.1 /);
    c.close();
  });

  test('XCLIENT and XFORWARD cannot claim the on-prem address', async () => {
    const c = await openSession(gw.sluice.port);
    assert.match(await c.cmd('XCLIENT ADDR=127.0.0.2 NAME=onprem.contoso.com'), /^5\d\d /);
    assert.match(await c.cmd('XFORWARD ADDR=127.0.0.2'), /^5\d\d /);
    await c.cmd('MAIL FROM:<john@contoso.com>');
    assert.match(await c.cmd('RCPT TO:<victim@fabrikam.com>'), /^550 5\.4\.1 /);
    c.close();
  });

  test('a recipient without angle brackets, a list or a trailing second address never reaches the second', async () => {
    const t = token();
    const c = await openSession(gw.sluice.port);
    await c.cmd('MAIL FROM:<spam@example.org>');
    assert.match(await c.cmd('RCPT TO:victim@fabrikam.com'), /^5\d\d /);
    assert.match(await c.cmd('RCPT TO:<john@contoso.com>,<victim@fabrikam.com>'), /^5\d\d /);
    // smtp-server reads "<victim@…>" after the path as an (ignored) parameter: only john is a recipient.
    assert.match(await c.cmd(`RCPT TO:<john-${t}@contoso.com> <victim@fabrikam.com>`), /^(250|5\d\d) /);
    assert.match(await c.cmd(`RCPT TO:<orcpt-${t}@contoso.com> ORCPT=rfc822;victim@fabrikam.com`), /^250 /);
    await c.cmd('DATA');
    c.write(body(t));
    assert.match(await c.reply(), /^250 /);
    c.close();
    const got = await waitForToken(gw.onprem, t);
    assert.ok(got.rcptTo.length >= 1 && got.rcptTo.every((r) => r.endsWith('@contoso.com')), got.rcptTo.join(','));
  });

  test('NOTIFY=SUCCESS from an anonymous sender returns at most a headers-only DSN to MAIL FROM, never the body', async () => {
    // A DSN is the one message that may leave for a foreign address on an anonymous sender's behalf
    // (RFC 3461); it must not carry the body, or DSNs would be a relay for arbitrary content.
    const t = token();
    dsnToken = t;
    const c = await openSession(gw.sluice.port);
    await c.cmd('MAIL FROM:<spam@example.org> RET=FULL');
    assert.match(await c.cmd(`RCPT TO:<dsn-${t}@contoso.com> NOTIFY=SUCCESS`), /^250 /);
    await c.cmd('DATA');
    c.write(`Subject: dsn ${t}\r\n\r\nSECRET-BODY-${t}\r\n.\r\n`);
    assert.match(await c.reply(), /^250 /);
    c.close();
    await waitForToken(gw.onprem, t);
    const dsn = await waitForToken(gw.internet, t);
    assert.equal(dsn.mailFrom, '', 'a DSN has the null sender');
    assert.deepEqual(dsn.rcptTo, ['spam@example.org']);
    assert.ok(!dsn.raw.includes(`SECRET-BODY-${t}`), 'the body is not returned on success');
  });

  test('STARTTLS without a client certificate leaves the session anonymous', async () => {
    const c = await openSession(gw.sluice.port);
    assert.match(await c.cmd('STARTTLS'), /^220 /);
    const d = new Dialog(await upgrade(c));
    assert.match(await d.cmd('EHLO client.example'), /^250/);
    await d.cmd('MAIL FROM:<john@contoso.com>');
    assert.match(await d.cmd('RCPT TO:<victim@fabrikam.com>'), /^550 5\.4\.1 /);
    d.close();
  });
});

test('after the whole battery the internet received nothing but that DSN, and on-prem only accepted-domain recipients', async () => {
  await delay(500);
  const other = gw.internet.messages.filter((m) => !(dsnToken && m.raw.includes(dsnToken) && m.mailFrom === '' && m.rcptTo.join() === 'spam@example.org'));
  const show = (m: (typeof other)[number]) => JSON.stringify({ rcpt: m.rcptTo, from: m.mailFrom, head: m.raw.toString('latin1').slice(0, 300) });
  assert.equal(gw.internet.rejected.length, 0, 'nothing was even offered to the internet and refused there');
  assert.equal(other.length, 0, `nothing but the DSN reached the internet: ${other.map(show).join('\n')}`);
  assert.ok(gw.onprem.messages.length >= TRICKS.length);
  for (const m of gw.onprem.messages) {
    for (const r of m.rcptTo) assert.match(r.toLowerCase(), /^[a-z0-9-]+@contoso\.com$/, `on-prem got ${r}`);
  }
});
