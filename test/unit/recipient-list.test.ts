// recipientValidation mode List: the file format and the decision, as a table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkListed, parseRecipientList } from '../../src/policy/recipient-list.js';

const FILE = `# valid recipients
john@contoso.com
Bob@Contoso.com   # case does not matter
sales+eu@contoso.com
*@fabrikam.com
not an address
`;
const { list, problems } = parseRecipientList(FILE);

test('a line that is not an address is reported with its line number and ignored', () => {
  assert.deepEqual(problems, [{ line: 6, text: 'not an address' }]);
});

const cases: [string, 'accept' | 'reject', RegExp][] = [
  ['john@contoso.com', 'accept', /john@contoso\.com listed/],
  ['JOHN@contoso.com', 'accept', /listed/],
  ['bob@contoso.com', 'accept', /listed/],
  ['john+newsletter@contoso.com', 'accept', /john@contoso\.com \(plus address\)/],
  ['sales+eu@contoso.com', 'accept', /sales\+eu@contoso\.com listed/],
  ['sales+us@contoso.com', 'reject', /not listed/],
  ['sales@contoso.com', 'reject', /not listed/],
  ['mallory@contoso.com', 'reject', /not listed/],
  ['+john@contoso.com', 'reject', /not listed/],
  ['anyone@fabrikam.com', 'accept', /\*@fabrikam\.com/],
  ['anyone@sub.fabrikam.com', 'reject', /not listed/],
];
for (const [address, kind, reason] of cases) {
  test(`${address} is ${kind === 'accept' ? 'valid' : 'refused'}`, () => {
    const v = checkListed(list, address);
    assert.equal(v.kind, kind);
    assert.match(v.reason, reason);
    if (v.kind !== 'accept') assert.deepEqual([v.code, v.enhanced, v.text], [550, '5.4.1', 'Recipient address rejected: Access denied']);
  });
}
