// Tables over the pure spam mapping: rspamd action/score → SCL, bulk symbols → BCL, the class,
// and each EOP spam action → the verdict the runner applies.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CONTENT_DEFAULTS, type SpamFilterModel } from '../../../src/config/sections/content.js';
import { bclOf, judgeRspamd, sclOf, senderListVerdict, spamVerdict, SCL_HEADER, type RspamdResult } from '../../../src/filters/spam-verdict.js';
import { fromHeaderAddress } from '../../../src/filters/spam.js';

const base = CONTENT_DEFAULTS.spamFilter;
const r = (action: string, score: number, symbols: string[] = []): RspamdResult => ({
  action,
  score,
  symbols: Object.fromEntries(symbols.map((s) => [s, { score: 0 }])),
});

describe('SCL from rspamd', () => {
  const rows: { name: string; input: RspamdResult; expected: number }[] = [
    { name: 'action reject is SCL 9 whatever the score', input: r('reject', 0), expected: 9 },
    { name: 'a score at the high confidence threshold is SCL 9', input: r('no action', 15), expected: 9 },
    { name: 'a score at the spam threshold is SCL 6', input: r('add header', 6), expected: 6 },
    { name: 'add header below the spam score is SCL 5', input: r('add header', 4), expected: 5 },
    { name: 'rewrite subject below the spam score is SCL 5', input: r('rewrite subject', 0), expected: 5 },
    { name: 'greylist is not spam', input: r('greylist', 4.5), expected: 1 },
    { name: 'no action with a positive score is SCL 1', input: r('no action', 2), expected: 1 },
    { name: 'a negative score is SCL 0', input: r('no action', -1.2), expected: 0 },
  ];
  for (const row of rows) test(row.name, () => assert.equal(sclOf(row.input, base.scoreThresholds), row.expected));

  test('thresholds are configurable', () => {
    assert.equal(sclOf(r('no action', 8), { spam: 4, highConfidenceSpam: 8 }), 9);
    assert.equal(sclOf(r('no action', 4), { spam: 4, highConfidenceSpam: 8 }), 6);
  });
});

describe('BCL and class', () => {
  test('bulk symbols add their points, capped at 9', () => {
    assert.equal(bclOf(r('no action', 0, ['PRECEDENCE_BULK', 'MAILLIST', 'HAS_LIST_UNSUB']), base.bulkSymbols), 9);
    assert.equal(bclOf(r('no action', 0, ['MAILLIST', 'HAS_LIST_UNSUB']), base.bulkSymbols), 5);
    assert.equal(bclOf(r('no action', 0, ['X']), { X: 9, Y: 9 }), 9);
  });
  const rows: { name: string; input: RspamdResult; expected: string }[] = [
    { name: 'list mail over the bulk threshold is bulk', input: r('no action', 0, ['PRECEDENCE_BULK', 'MAILLIST']), expected: 'bulk' },
    { name: 'list mail under the bulk threshold is clean', input: r('no action', 0, ['MAILLIST', 'HAS_LIST_UNSUB']), expected: 'clean' },
    { name: 'spam beats bulk', input: r('add header', 7, ['PRECEDENCE_BULK', 'MAILLIST']), expected: 'spam' },
    { name: 'reject is high confidence spam', input: r('reject', 20), expected: 'highConfidenceSpam' },
  ];
  for (const row of rows) test(row.name, () => assert.equal(judgeRspamd(row.input, base).cls, row.expected));
});

describe('EOP spam actions', () => {
  const spam = judgeRspamd(r('add header', 7), base);
  const hcs = judgeRspamd(r('reject', 15), base);
  const bulk = judgeRspamd(r('no action', 0, ['PRECEDENCE_BULK', 'MAILLIST']), base);
  const cfg = (patch: Partial<SpamFilterModel>): SpamFilterModel => ({ ...base, ...patch });
  const header = (v: ReturnType<typeof spamVerdict>, name: string) => v.headerEdits?.find((e) => e.name === name);

  test('MoveToJmf accepts and stamps the SCL', () => {
    const v = spamVerdict(spam, cfg({ spamAction: 'MoveToJmf' }), 'Hi');
    assert.equal(v.action.kind, 'accept');
    assert.equal(v.scl, 6);
    assert.deepEqual(header(v, SCL_HEADER), { op: 'set', name: SCL_HEADER, value: '6' });
  });
  test('bulk moved to Junk gets SCL 6 so the mailbox files it', () => {
    const v = spamVerdict(bulk, cfg({ bulkSpamAction: 'MoveToJmf' }), 'Hi');
    assert.equal(v.scl, 6);
    assert.deepEqual(header(v, 'X-Microsoft-Antispam'), { op: 'set', name: 'X-Microsoft-Antispam', value: 'BCL:7;' });
  });
  test('AddXHeader adds the configured header', () => {
    const v = spamVerdict(spam, cfg({ spamAction: 'AddXHeader', addXHeaderValue: { name: 'X-Spam-Flag', value: 'YES' } }), 'Hi');
    assert.deepEqual(header(v, 'X-Spam-Flag'), { op: 'add', name: 'X-Spam-Flag', value: 'YES' });
  });
  test('ModifySubject prepends the prefix once', () => {
    const c = cfg({ spamAction: 'ModifySubject', modifySubjectValue: '[SPAM] ' });
    assert.deepEqual(header(spamVerdict(spam, c, 'Cheap pills'), 'Subject'), { op: 'set', name: 'Subject', value: '[SPAM] Cheap pills' });
    assert.equal(header(spamVerdict(spam, c, '[SPAM] Cheap pills'), 'Subject'), undefined);
  });
  test('Redirect sends to redirectToRecipients instead', () => {
    const v = spamVerdict(spam, cfg({ spamAction: 'Redirect', redirectToRecipients: ['junk@contoso.com'] }), 'Hi');
    assert.deepEqual(v.redirectTo, ['junk@contoso.com']);
    assert.equal(v.action.kind, 'accept');
  });
  test('Delete drops the message', () => {
    assert.equal(spamVerdict(spam, cfg({ spamAction: 'Delete' }), 'Hi').action.kind, 'delete');
  });
  test('Quarantine uses the type of the verdict', () => {
    const q = (j: typeof spam, c: SpamFilterModel) => {
      const a = spamVerdict(j, c, 'Hi').action;
      return a.kind === 'quarantine' ? a.type : a.kind;
    };
    assert.equal(q(spam, cfg({ spamAction: 'Quarantine' })), 'Spam');
    assert.equal(q(hcs, cfg({ highConfidenceSpamAction: 'Quarantine' })), 'HighConfidenceSpam');
    assert.equal(q(bulk, cfg({ bulkSpamAction: 'Quarantine' })), 'Bulk');
  });
  test('Reject is 550 5.7.1 Message rejected as spam', () => {
    assert.deepEqual(spamVerdict(hcs, cfg({ highConfidenceSpamAction: 'Reject' }), 'Hi').action, {
      kind: 'reject',
      code: 550,
      enhanced: '5.7.1',
      text: 'Message rejected as spam',
    });
  });
  test('NoAction and clean mail only get the stamp', () => {
    const clean = judgeRspamd(r('no action', 1), base);
    assert.deepEqual(spamVerdict(clean, base, 'Hi').headerEdits?.map((e) => e.name), [SCL_HEADER, 'X-Microsoft-Antispam']);
    assert.equal(spamVerdict(spam, cfg({ spamAction: 'NoAction' }), 'Hi').action.kind, 'accept');
  });
  test('a skipped message is stamped SCL -1', () => {
    const v = spamVerdict({ cls: 'skipped', scl: -1, bcl: 0, why: 'allowed sender' }, base, 'Hi');
    assert.deepEqual(header(v, SCL_HEADER), { op: 'set', name: SCL_HEADER, value: '-1' });
  });
});

describe('sender lists', () => {
  const c = { ...base, allowedSenders: ['ann@fabrikam.com'], allowedSenderDomains: ['tailspin.com'], blockedSenders: ['eve@tailspin.com'], blockedSenderDomains: ['spam.example'] };
  const rows: { name: string; input: string[]; expected: string | null }[] = [
    { name: 'an allowed address', input: ['Ann@Fabrikam.com'], expected: 'allowed' },
    { name: 'an allowed domain in the From: header only', input: ['', 'bob@tailspin.com'], expected: 'allowed' },
    { name: 'blocked wins over an allowed domain', input: ['eve@tailspin.com'], expected: 'blocked' },
    { name: 'a blocked domain', input: ['x@spam.example'], expected: 'blocked' },
    { name: 'the null sender is in no list', input: [''], expected: null },
  ];
  for (const row of rows) test(row.name, () => assert.equal(senderListVerdict(c, row.input), row.expected));
  test('the From: address is taken from a display-name form', () => {
    assert.equal(fromHeaderAddress('"Ann A." <Ann@Fabrikam.com>'), 'ann@fabrikam.com');
    assert.equal(fromHeaderAddress('bob@tailspin.com (Bob)'), 'bob@tailspin.com');
    assert.equal(fromHeaderAddress(null), null);
  });
});
