// The memos of per-message decisions (domain/memo.ts): a result is kept per model object, so a
// reloaded model decides afresh; a table past its bound starts again instead of growing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyMemo, ModelMemo } from '../../src/domain/memo.js';
import { selectRoute } from '../../src/routing/select-connector.js';
import { buildModel } from '../helpers/model-builder.js';

test('a key is computed once, null and undefined results included', () => {
  const memo = new KeyMemo<string | null | undefined>();
  let calls = 0;
  const f = (k: string) => (calls++, k === 'a' ? null : k === 'b' ? undefined : k.toUpperCase());
  for (let i = 0; i < 3; i++) assert.deepEqual([memo.get('a', f), memo.get('b', f), memo.get('c', f)], [null, undefined, 'C']);
  assert.equal(calls, 3);
});

test('past its bound the table starts again: results stay right, memory stays bounded', () => {
  const memo = new KeyMemo<number>(2);
  let calls = 0;
  const f = (k: string) => (calls++, k.length);
  assert.equal(memo.get('a', f), 1);
  assert.equal(memo.get('bb', f), 2);
  assert.equal(memo.get('ccc', f), 3); // clears, then keeps ccc
  assert.equal(memo.get('a', f), 1); // computed again
  assert.equal(calls, 4);
});

test('results are per model: another model object computes its own', () => {
  const memo = new ModelMemo<object, string>();
  const m1 = {};
  const m2 = {};
  assert.equal(memo.get(m1, 'k', () => 'one'), 'one');
  assert.equal(memo.get(m2, 'k', () => 'two'), 'two');
  assert.equal(memo.get(m1, 'k', () => 'not again'), 'one');
});

test('a reloaded model routes by its own connectors, not by the memo of the old one', () => {
  const before = buildModel({ acceptedDomains: ['contoso.com'], outboundConnectors: [{ name: 'Old', recipientDomains: ['fabrikam.com'], smartHosts: ['old.example:25'] }] });
  const after = buildModel({ acceptedDomains: ['contoso.com'], outboundConnectors: [{ name: 'New', recipientDomains: ['fabrikam.com'], smartHosts: ['new.example:25'] }] });
  const name = (r: ReturnType<typeof selectRoute>) => (r.kind === 'connector' ? r.connector.name : r.kind);
  assert.equal(name(selectRoute(before, 'fabrikam.com')), 'Old');
  assert.equal(name(selectRoute(after, 'fabrikam.com')), 'New');
  assert.equal(name(selectRoute(before, 'FABRIKAM.com')), 'Old');
});
