// Tables for the DSN core: NOTIFY decisions (RFC 3461), the expiry diagnostic in EOP's shape,
// and the RFC 3464 report the renderer produces, parsed back with mailparser and by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { expiredDiagnostic, hostWithoutPort, parseLastError, wantsNotice, type NoticeKind } from '../../src/bounce/notice.js';
import { foldField, renderDsn, type DsnInput } from '../../src/bounce/render-dsn.js';

const notifyRows: { name: string; notify: string[] | undefined; expected: Record<NoticeKind, boolean> }[] = [
  { name: 'no NOTIFY reports failures and delays, not success', notify: undefined, expected: { failure: true, delay: true, success: false } },
  { name: 'NOTIFY=NEVER reports nothing', notify: ['NEVER'], expected: { failure: false, delay: false, success: false } },
  { name: 'NOTIFY=SUCCESS reports only success', notify: ['SUCCESS'], expected: { failure: false, delay: false, success: true } },
  { name: 'NOTIFY=FAILURE reports only failure', notify: ['FAILURE'], expected: { failure: true, delay: false, success: false } },
  {
    name: 'NOTIFY=SUCCESS,FAILURE,DELAY reports everything',
    notify: ['SUCCESS', 'FAILURE', 'DELAY'],
    expected: { failure: true, delay: true, success: true },
  },
  { name: 'NOTIFY=delay in lower case still counts', notify: ['delay'], expected: { failure: false, delay: true, success: false } },
];
for (const row of notifyRows) {
  test(row.name, () => {
    const got = { failure: wantsNotice(row.notify, 'failure'), delay: wantsNotice(row.notify, 'delay'), success: wantsNotice(row.notify, 'success') };
    assert.deepEqual(got, row.expected);
  });
}

test('a stored last error splits into status and diagnostic, with a fallback for free text', () => {
  assert.deepEqual(parseLastError('5.1.1 550 5.1.1 <bob@contoso.com>: user unknown', '5.0.0'), {
    status: '5.1.1',
    diagnostic: '550 5.1.1 <bob@contoso.com>: user unknown',
  });
  assert.deepEqual(parseLastError('something odd', '4.0.0'), { status: '4.0.0', diagnostic: 'something odd' });
  assert.deepEqual(parseLastError(null, '5.0.0'), { status: '5.0.0', diagnostic: '' });
});

test('host:port strips to the host for Remote-MTA', () => {
  assert.equal(hostWithoutPort('127.0.0.1:2525'), '127.0.0.1');
  assert.equal(hostWithoutPort('[::1]:25'), '::1');
  assert.equal(hostWithoutPort('mail.contoso.com:25'), 'mail.contoso.com');
  assert.equal(hostWithoutPort(null), null);
});

const expiryRows = [
  {
    name: 'an expired message names the last error (LED) and the last host and IP tried',
    input: ['4.2.0 450 4.2.0 mailbox busy', '127.0.0.1:2525', null] as const,
    expected: '550 4.4.7 QUEUE.Expired; message expired [LED=450 4.2.0 mailbox busy];[LastAttemptedServerName=127.0.0.1];[LastAttemptedIP=127.0.0.1:2525]',
  },
  {
    name: 'a smart host given by name gives no IP',
    input: ['4.4.1 connect ECONNREFUSED', 'relay.contoso.com:25', null] as const,
    expected: '550 4.4.7 QUEUE.Expired; message expired [LED=connect ECONNREFUSED];[LastAttemptedServerName=relay.contoso.com]',
  },
  {
    name: 'a smart host resolved from its name gives both the name and the IP',
    input: ['4.4.1 connect ECONNREFUSED', '192.0.2.7:25', 'relay.contoso.com'] as const,
    expected: '550 4.4.7 QUEUE.Expired; message expired [LED=connect ECONNREFUSED];[LastAttemptedServerName=relay.contoso.com];[LastAttemptedIP=192.0.2.7:25]',
  },
  {
    name: 'a message never attempted says so',
    input: [null, null, null] as const,
    expected: '550 4.4.7 QUEUE.Expired; message expired [LED=none (no delivery attempt completed)]',
  },
];
for (const row of expiryRows) {
  test(row.name, () => {
    const got = expiredDiagnostic(row.input[0], row.input[1], row.input[2]);
    assert.deepEqual(got, { status: '4.4.7', diagnostic: row.expected });
  });
}

test('long diagnostic text is folded below 80 columns and CR/LF from a remote reply cannot inject fields', () => {
  const folded = foldField('Diagnostic-Code', 'smtp; 550 ' + 'word '.repeat(40) + '\r\nAction: delivered');
  for (const line of folded.split('\r\n')) assert.ok(line.length <= 80, line);
  assert.ok(!/\r\nAction:/.test(folded), 'no injected field line');
  assert.equal(folded.replace(/\r\n /g, ' ').split(': ').slice(1).join(': ').includes('Action: delivered'), true);
});

const HEADERS = Buffer.from('Received: from x by gateway\r\nFrom: <john@contoso.com>\r\nSubject: Quarterly\r\n report\r\nMessage-ID: <m1@test>\r\n');
const FULL = Buffer.concat([HEADERS, Buffer.from('\r\nBody line\r\n')]);
const base: DsnInput = {
  reportingMta: 'gateway.sluice.test',
  to: 'john@contoso.com',
  date: new Date(Date.UTC(2024, 0, 2, 10, 0, 0)),
  messageId: '<X.dsn@gateway.sluice.test>',
  boundary: '=_b1',
  queueId: 'ABC123',
  arrivalDate: new Date(Date.UTC(2024, 0, 2, 9, 0, 0)),
  envid: 'env-42',
  recipients: [
    {
      address: 'bob@fabrikam.com',
      orcpt: 'rfc822;Bob@Fabrikam.com',
      action: 'failed',
      status: '5.1.1',
      diagnostic: '550 5.1.1 <bob@fabrikam.com>: user unknown',
      remoteMta: '127.0.0.1',
      lastAttempt: new Date(Date.UTC(2024, 0, 2, 9, 0, 5)),
    },
    { address: 'sue@fabrikam.com', action: 'delayed', status: '4.2.0', diagnostic: '450 4.2.0 busy', willRetryUntil: new Date(Date.UTC(2024, 0, 3, 9)) },
  ],
  originalHeaders: HEADERS,
};

/** message/delivery-status body → [per-message fields, ...per-recipient fields], unfolded. */
function statusGroups(text: string): Record<string, string>[] {
  return text
    .replace(/\r\n[ \t]+/g, ' ')
    .trim()
    .split(/\r\n\r\n/)
    .map((block) => Object.fromEntries(block.split('\r\n').map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()])));
}

function deliveryStatusOf(raw: Buffer): string {
  const text = raw.toString('utf8');
  const m = /Content-Type: message\/delivery-status\r\n\r\n([^]*?)\r\n--=_b1/.exec(text);
  assert.ok(m, 'has a message/delivery-status part');
  return m[1]!;
}

test('the report is multipart/report with a human part, delivery-status fields and the original headers', async () => {
  const raw = renderDsn(base);
  const parsed = await simpleParser(raw);
  assert.match(String(parsed.headers.get('content-type') && (parsed.headers.get('content-type') as { value: string }).value), /^multipart\/report$/);
  assert.match(raw.toString(), /report-type=delivery-status/);
  assert.equal(parsed.subject, 'Undeliverable: Quarterly report');
  assert.match(parsed.text ?? '', /Delivery has failed to these recipients or groups:\s+bob@fabrikam\.com\s+Remote server returned '550 5\.1\.1/);
  assert.match(raw.toString(), /Auto-Submitted: auto-replied/);
  const [msg, bob, sue] = statusGroups(deliveryStatusOf(raw));
  assert.deepEqual(msg, {
    'reporting-mta': 'dns; gateway.sluice.test',
    'x-sluice-queue-id': 'ABC123',
    'original-envelope-id': 'env-42',
    'arrival-date': 'Tue, 02 Jan 2024 09:00:00 +0000',
  });
  assert.deepEqual(bob, {
    'original-recipient': 'rfc822; Bob@Fabrikam.com',
    'final-recipient': 'rfc822; bob@fabrikam.com',
    action: 'failed',
    status: '5.1.1',
    'remote-mta': 'dns; 127.0.0.1',
    'diagnostic-code': 'smtp; 550 5.1.1 <bob@fabrikam.com>: user unknown',
    'last-attempt-date': 'Tue, 02 Jan 2024 09:00:05 +0000',
  });
  assert.deepEqual(sue, {
    'final-recipient': 'rfc822; sue@fabrikam.com',
    action: 'delayed',
    status: '4.2.0',
    'diagnostic-code': 'smtp; 450 4.2.0 busy',
    'will-retry-until': 'Wed, 03 Jan 2024 09:00:00 +0000',
  });
  assert.match(raw.toString(), /Content-Type: text\/rfc822-headers\r\n[^]*\r\n\r\nReceived: from x by gateway\r\nFrom: <john@contoso.com>\r\n/);
  assert.doesNotMatch(raw.toString(), /Body line/);
  assert.match(raw.toString(), /\r\n--=_b1--\r\n$/);
});

test('RET=FULL returns the whole original message as message/rfc822', async () => {
  const raw = renderDsn({ ...base, originalFull: FULL });
  const text = raw.toString();
  assert.match(text, /Content-Type: message\/rfc822\r\n[^]*Body line\r\n\r\n--=_b1--\r\n$/);
  assert.doesNotMatch(text, /text\/rfc822-headers/);
  const parsed = await simpleParser(raw);
  assert.ok(parsed.attachments.some((a) => a.contentType === 'message/rfc822' && a.content.toString().includes('Body line')));
});

test('a success report is titled Relayed and carries the next hop reply', () => {
  const raw = renderDsn({
    ...base,
    envid: null,
    recipients: [{ address: 'bob@fabrikam.com', action: 'relayed', status: '2.0.0', diagnostic: '250 OK queued', remoteMta: 'mx.fabrikam.com' }],
  }).toString();
  assert.match(raw, /^Subject: Relayed: Quarterly report$/m);
  assert.doesNotMatch(raw, /Original-Envelope-Id/);
  const [, r] = statusGroups(deliveryStatusOf(Buffer.from(raw)));
  assert.equal(r!.action, 'relayed');
  assert.equal(r!['diagnostic-code'], 'smtp; 250 OK queued');
});

test('an 8-bit original subject is re-encoded and an internationalised address uses the utf-8 type', async () => {
  const headers = Buffer.from('Subject: Grüße\r\n', 'utf8');
  const raw = renderDsn({ ...base, originalHeaders: headers, recipients: [{ ...base.recipients[0]!, address: 'jörg@fabrikam.com', orcpt: undefined }] });
  const parsed = await simpleParser(raw);
  assert.equal(parsed.subject, 'Undeliverable: Grüße');
  assert.match(raw.toString('utf8'), /Final-Recipient: utf-8; jörg@fabrikam\.com/);
});
