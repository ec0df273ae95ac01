// The spam filter's paths that never ask rspamd: the URL points at a closed port, so a call would
// throw. Allowed and blocked senders, the connection filter's IP allow list and on-premises mail.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CONTENT_DEFAULTS, type SpamFilterModel } from '../../../src/config/sections/content.js';
import { spamFilter } from '../../../src/filters/spam.js';
import { SCL_HEADER } from '../../../src/filters/spam-verdict.js';
import type { ContentContext } from '../../../src/filters/contract.js';
import { freePort } from '../../helpers/ports.js';

async function run(patch: Partial<SpamFilterModel>, ctx: { from?: string; header?: string; ipAllowed?: boolean; onPrem?: boolean }) {
  const cfg = { ...CONTENT_DEFAULTS.spamFilter, rspamd: { url: `http://127.0.0.1:${await freePort()}`, timeout: 1_000 }, ...patch };
  const c = {
    session: { clientIp: '192.0.2.1', helo: 'x', inbound: ctx.onPrem ? { connectorType: 'OnPremises' } : null },
    envelope: { mailFrom: ctx.from ?? 'ann@fabrikam.com', rcpts: [{ address: 'bob@contoso.com', route: null }] },
    facts: { ipAllowed: ctx.ipAllowed ?? false, scl: null, bcl: null, auth: null, skip: new Set() },
    message: {
      queueId: 'Q',
      headers: [{ name: 'From', value: ctx.header ?? 'Ann <ann@fabrikam.com>', line: '' }, { name: 'Subject', value: 'hi', line: '' }],
      open: () => {
        throw new Error('rspamd must not be asked');
      },
    },
    signal: new AbortController().signal,
  } as unknown as ContentContext;
  return spamFilter(cfg).content!(c);
}
const scl = (v: Awaited<ReturnType<typeof run>>) => v.headerEdits?.find((e) => e.name === SCL_HEADER && e.op === 'set');

describe('spam filter skips', () => {
  test('an allowed sender is SCL -1', async () => {
    const v = await run({ allowedSenders: ['ann@fabrikam.com'] }, {});
    assert.equal(v.scl, -1);
    assert.deepEqual(scl(v), { op: 'set', name: SCL_HEADER, value: '-1' });
  });
  test('an allowed From: domain is SCL -1 even with another envelope sender', async () => {
    assert.equal((await run({ allowedSenderDomains: ['fabrikam.com'] }, { from: 'bounces@mailer.example' })).scl, -1);
  });
  test('an allow-listed IP is SCL -1', async () => {
    assert.equal((await run({}, { ipAllowed: true })).scl, -1);
  });
  test('mail from an on-premises connector is SCL -1', async () => {
    assert.equal((await run({}, { onPrem: true })).scl, -1);
  });
  test('a blocked sender is high confidence spam without asking rspamd, and gets its action', async () => {
    const v = await run({ blockedSenderDomains: ['fabrikam.com'], highConfidenceSpamAction: 'Reject' }, { ipAllowed: true });
    assert.equal(v.scl, 9);
    assert.equal(v.action.kind, 'reject');
  });
  test('anything else asks rspamd, and a dead rspamd throws (the runner fails closed)', async () => {
    await assert.rejects(run({}, {}), /must not be asked/);
  });
});
