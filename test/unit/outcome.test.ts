// Table tests for the failure policy: real server replies (Postfix, Exchange/EOP, Gmail) and
// local failures × lastHost × softBounce → action, rule and status. Each row states what happens
// while other hosts remain, on the last host, and on the last host with softBounce on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyOutcome, isHostFailure, permanentFailure, type AttemptResult, type OutcomeAction } from '../../src/delivery/outcome.js';

interface Expect {
  action: OutcomeAction;
  rule: string;
  status: string;
}

interface Row {
  name: string;
  reply: AttemptResult;
  /** Other hosts remain. */
  notLast: Expect;
  /** Last host; softBounce changes only a bounce (into a defer with a 4.x.x status). */
  last: Expect;
  hostFailure: boolean;
}

const reply = (command: string, text: string, errorCode?: string): AttemptResult => ({
  responseCode: Number(text.slice(0, 3)),
  response: text,
  command,
  ...(errorCode ? { errorCode } : {}),
});
const same = (e: Expect) => ({ notLast: e, last: e });
const sessionTemp = (rule: string, status: string) => ({
  notLast: { action: 'next-host' as const, rule, status },
  last: { action: 'defer' as const, rule: `${rule}; no more hosts`, status },
});

const rows: Row[] = [
  {
    name: 'a 250 after DATA is delivered',
    reply: { accepted: true, response: '250 2.0.0 Ok: queued as 4FJ9k2' },
    ...same({ action: 'delivered', rule: 'accepted', status: '2.0.0' }),
    hostFailure: false,
  },
  {
    name: 'Postfix 421 4.7.0 too many connections at connect moves to the next host',
    reply: reply('CONN', '421 4.7.0 mx.example.com Error: too many connections from 192.0.2.1', 'EPROTOCOL'),
    ...sessionTemp('421-at-CONN', '4.7.0'),
    hostFailure: true,
  },
  {
    name: 'Exchange 421 4.3.2 service not available at connect moves to the next host',
    reply: reply('CONN', '421 4.3.2 Service not available', 'EPROTOCOL'),
    ...sessionTemp('421-at-CONN', '4.3.2'),
    hostFailure: true,
  },
  {
    name: 'a 554 greeting is skipped like Postfix smtp_skip_5xx_greeting, then deferred, never bounced',
    reply: reply('CONN', '554 5.7.1 mx.example.com ESMTP not accepting messages', 'EPROTOCOL'),
    ...sessionTemp('5xx-at-CONN', '4.7.1'),
    hostFailure: true,
  },
  {
    name: 'a 4xx answer to EHLO moves to the next host',
    reply: reply('EHLO', '451 4.3.5 Server configuration problem', 'EPROTOCOL'),
    ...sessionTemp('4xx-at-EHLO', '4.3.5'),
    hostFailure: true,
  },
  {
    name: 'postgrey 450 4.2.0 greylisting at RCPT defers the recipient on the same host',
    reply: reply('RCPT TO', '450 4.2.0 <john@example.com>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.com.html', 'EENVELOPE'),
    ...same({ action: 'defer', rule: '4xx-at-RCPT TO', status: '4.2.0' }),
    hostFailure: false,
  },
  {
    name: 'Gmail 450 4.2.1 rate limit at RCPT defers',
    reply: reply('RCPT TO', '450-4.2.1 The user you are trying to contact is receiving mail at a rate that\n450 4.2.1 prevents additional messages from being delivered.', 'EENVELOPE'),
    ...same({ action: 'defer', rule: '4xx-at-RCPT TO', status: '4.2.1' }),
    hostFailure: false,
  },
  {
    name: 'Gmail 452 4.2.2 mailbox over quota defers',
    reply: reply('RCPT TO', '452-4.2.2 The email account that you tried to reach is over quota.', 'EENVELOPE'),
    ...same({ action: 'defer', rule: '4xx-at-RCPT TO', status: '4.2.2' }),
    hostFailure: false,
  },
  {
    name: '452 4.5.3 too many recipients defers the rest for the next attempt',
    reply: reply('RCPT TO', '452 4.5.3 Error: too many recipients', 'EENVELOPE'),
    ...same({ action: 'defer', rule: '4xx-at-RCPT TO', status: '4.5.3' }),
    hostFailure: false,
  },
  {
    name: '552 5.5.3 too many recipients at RCPT is treated as 452 (RFC 5321 4.5.3.1.10)',
    reply: reply('RCPT TO', '552 5.5.3 Too many recipients', 'EENVELOPE'),
    ...same({ action: 'defer', rule: '552-too-many-recipients-as-452', status: '4.5.3' }),
    hostFailure: false,
  },
  {
    name: 'Postfix 550 5.1.1 user unknown bounces, even with hosts left',
    reply: reply('RCPT TO', '550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in local recipient table', 'EENVELOPE'),
    ...same({ action: 'bounce', rule: '5xx-at-RCPT TO', status: '5.1.1' }),
    hostFailure: false,
  },
  {
    name: 'Gmail multi-line 550-5.1.1 does not exist bounces',
    reply: reply('RCPT TO', '550-5.1.1 The email account that you tried to reach does not exist. Please try\n550 5.1.1 double-checking the recipient\'s email address.', 'EENVELOPE'),
    ...same({ action: 'bounce', rule: '5xx-at-RCPT TO', status: '5.1.1' }),
    hostFailure: false,
  },
  {
    name: 'Exchange 550 5.7.1 unable to relay bounces',
    reply: reply('RCPT TO', '550 5.7.1 Unable to relay', 'EENVELOPE'),
    ...same({ action: 'bounce', rule: '5xx-at-RCPT TO', status: '5.7.1' }),
    hostFailure: false,
  },
  {
    name: 'EOP 550 5.4.1 directory-based edge blocking bounces',
    reply: reply('RCPT TO', '550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [AM4PEPF00025F9B.eurprd.prod.outlook.com]', 'EENVELOPE'),
    ...same({ action: 'bounce', rule: '5xx-at-RCPT TO', status: '5.4.1' }),
    hostFailure: false,
  },
  {
    name: 'Postfix 552 5.3.4 message too big after DATA bounces',
    reply: reply('DATA', '552 5.3.4 Message size exceeds fixed limit', 'EMESSAGE'),
    ...same({ action: 'bounce', rule: '5xx-at-DATA', status: '5.3.4' }),
    hostFailure: false,
  },
  {
    name: '554 5.7.1 spam verdict after DATA bounces',
    reply: reply('DATA', '554 5.7.1 The message from (<a@contoso.com>) matches a profile the Internet community may consider spam.', 'EMESSAGE'),
    ...same({ action: 'bounce', rule: '5xx-at-DATA', status: '5.7.1' }),
    hostFailure: false,
  },
  {
    name: 'Postfix 553 5.1.8 sender domain not found at MAIL FROM bounces',
    reply: reply('MAIL FROM', '553 5.1.8 <a@nowhere.example>: Sender address rejected: Domain not found', 'EENVELOPE'),
    ...same({ action: 'bounce', rule: '5xx-at-MAIL FROM', status: '5.1.8' }),
    hostFailure: false,
  },
  {
    name: 'Postfix 451 4.3.0 queue file write error at MAIL FROM defers',
    reply: reply('MAIL FROM', '451 4.3.0 Error: queue file write error', 'EENVELOPE'),
    ...same({ action: 'defer', rule: '4xx-at-MAIL FROM', status: '4.3.0' }),
    hostFailure: false,
  },
  {
    name: 'EOP 451 4.4.317 after DATA defers',
    reply: reply('DATA', '451 4.4.317 Cannot connect to remote server [Message=UntrustedRoot]', 'EMESSAGE'),
    ...same({ action: 'defer', rule: '4xx-at-DATA', status: '4.4.317' }),
    hostFailure: false,
  },
  {
    name: 'EOP 451 4.7.500 server busy at RCPT defers',
    reply: reply('RCPT TO', '451 4.7.500 Server busy. Please try again later from [192.0.2.1]. (S77714)', 'EENVELOPE'),
    ...same({ action: 'defer', rule: '4xx-at-RCPT TO', status: '4.7.500' }),
    hostFailure: false,
  },
  {
    name: 'a 421 in the middle of DATA is the host closing: next host',
    reply: reply('DATA', '421 4.4.2 mx.example.com Error: timeout exceeded', 'EMESSAGE'),
    ...sessionTemp('421-at-DATA', '4.4.2'),
    hostFailure: true,
  },
  {
    name: 'connection refused moves to the next host with 4.4.1',
    reply: { errorCode: 'ESOCKET', command: 'CONN', response: 'connect ECONNREFUSED 192.0.2.1:25' },
    ...sessionTemp('connection:ESOCKET', '4.4.1'),
    hostFailure: true,
  },
  {
    name: 'a connection timeout moves to the next host with 4.4.2',
    reply: { errorCode: 'ETIMEDOUT', command: 'CONN', response: 'Connection timeout' },
    ...sessionTemp('connection:ETIMEDOUT', '4.4.2'),
    hostFailure: true,
  },
  {
    name: 'a broken TLS handshake moves to the next host',
    reply: { errorCode: 'ETLS', command: 'CONN', response: 'Connection closed unexpectedly' },
    ...sessionTemp('connection:ETLS', '4.4.1'),
    hostFailure: true,
  },
  {
    name: 'a TLS policy refusal (UntrustedRoot) tries the next host, then defers with 4.4.317',
    reply: reply('STARTTLS', '450 4.4.317 Cannot connect to remote server [Message=UntrustedRoot]', 'E_TLS_POLICY'),
    ...sessionTemp('tls-policy', '4.4.317'),
    hostFailure: false,
  },
  {
    name: 'STARTTLS missing where TLS is required defers with 4.4.317',
    reply: reply('STARTTLS', '450 4.4.317 Cannot connect to remote server [Message=451 5.7.3 STARTTLS is required to send mail]', 'E_TLS_POLICY'),
    ...sessionTemp('tls-policy', '4.4.317'),
    hostFailure: false,
  },
  {
    name: 'an unreadable spool body is a local problem: defer, same host or not',
    reply: { errorCode: 'ESTREAM', command: 'API', response: 'ENOENT: no such file or directory' },
    ...same({ action: 'defer', rule: 'local:ESTREAM', status: '4.3.0' }),
    hostFailure: false,
  },
  {
    name: 'no free pooled connection in time defers',
    reply: { errorCode: 'EPOOLWAIT', response: 'no free connection' },
    ...same({ action: 'defer', rule: 'local:no-free-connection', status: '4.4.5' }),
    hostFailure: false,
  },
];

for (const row of rows) {
  test(`${row.name} (other hosts left)`, () => {
    const o = classifyOutcome(row.reply, { lastHost: false, softBounce: false });
    assert.deepEqual({ action: o.action, rule: o.rule, status: o.status }, row.notLast);
  });
  test(`${row.name} (last host)`, () => {
    const o = classifyOutcome(row.reply, { lastHost: true, softBounce: false });
    assert.deepEqual({ action: o.action, rule: o.rule, status: o.status }, row.last);
    assert.equal(o.diagnostic, row.reply.response ?? '');
  });
  test(`${row.name} (last host, softBounce)`, () => {
    const o = classifyOutcome(row.reply, { lastHost: true, softBounce: true });
    const expected =
      row.last.action === 'bounce'
        ? { action: 'defer', rule: `softBounce:${row.last.rule}`, status: row.last.status.replace(/^5/, '4') }
        : row.last;
    assert.deepEqual({ action: o.action, rule: o.rule, status: o.status }, expected);
  });
  test(`${row.name}: ${row.hostFailure ? 'marks' : 'does not mark'} the host down`, () => {
    assert.equal(isHostFailure(row.reply), row.hostFailure);
  });
}

test('a null MX bounces with 5.1.10, or defers with 4.1.10 under softBounce', () => {
  assert.deepEqual(permanentFailure('null-mx', '5.1.10', 'x', { softBounce: false }), { action: 'bounce', rule: 'null-mx', status: '5.1.10', diagnostic: 'x' });
  assert.deepEqual(permanentFailure('null-mx', '5.1.10', 'x', { softBounce: true }), { action: 'defer', rule: 'softBounce:null-mx', status: '4.1.10', diagnostic: 'x' });
});
