// SRS0: forward and reverse, forged hashes, expired stamps, addresses that are not ours.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { srsForward, srsReverse } from '../../src/rules/srs.js';

const keys = { secret: 'test-secret', domain: 'gw.contoso.com' };
const day = 86_400_000;
const now = Date.UTC(2026, 11, 1);

it('rewrites a foreign sender into our domain and back', () => {
  const rewritten = srsForward('bob@fabrikam.com', keys, now);
  assert.match(rewritten, /^SRS0=[^=]{4}=[A-Z2-7]{2}=fabrikam\.com=bob@gw\.contoso\.com$/);
  assert.equal(srsReverse(rewritten, keys, now + 3 * day), 'bob@fabrikam.com');
  assert.equal(srsReverse(rewritten.toLowerCase(), keys, now), 'bob@fabrikam.com', 'a receiver that lower-cases it');
});

it('leaves the null sender and our own addresses alone', () => {
  assert.equal(srsForward('', keys, now), '');
  assert.equal(srsForward('ann@gw.contoso.com', keys, now), 'ann@gw.contoso.com');
});

it('refuses forged, expired and foreign addresses', () => {
  const good = srsForward('bob@fabrikam.com', keys, now);
  const forged = good.replace(/^SRS0=[^=]{4}/, 'SRS0=AAAA');
  assert.equal(srsReverse(forged, keys, now), null);
  assert.equal(srsReverse(good, { ...keys, secret: 'other' }, now), null);
  assert.equal(srsReverse(good, keys, now + 30 * day), null, 'older than 21 days');
  assert.equal(srsReverse(good.replace('@gw.contoso.com', '@elsewhere.test'), keys, now), null);
  assert.equal(srsReverse('plain@gw.contoso.com', keys, now), null);
});
