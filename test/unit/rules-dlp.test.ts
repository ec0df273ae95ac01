// DLP detectors: each built-in type finds what it should and nothing that only looks like it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { countClassification, findCreditCards, findIbans, findSsns, ibanValid, luhn } from '../../src/rules/dlp.js';

describe('credit card numbers', () => {
  const rows: [string, number][] = [
    ['Visa 4111 1111 1111 1111 please', 1],
    ['card: 4111-1111-1111-1111.', 1],
    ['4111111111111111', 1],
    ['Amex 3782 822463 10005', 1],
    ['Mastercard 5555555555554444 and 2223003122003222', 2],
    ['Discover 6011111111111117', 1],
    ['Luhn fails: 4111 1111 1111 1112', 0],
    ['no brand: 1234 5678 9012 3452', 0],
    ['mixed separators 4111-1111 1111-1111', 0],
    ['part of a longer number 94111111111111111', 0],
    ['order 2026-12-01-0001', 0],
  ];
  for (const [text, n] of rows) it(`${n} in "${text}"`, () => assert.equal(findCreditCards(text).length, n));
  it('luhn', () => {
    assert.equal(luhn('79927398713'), true);
    assert.equal(luhn('79927398710'), false);
  });
});

describe('IBAN', () => {
  const rows: [string, number][] = [
    ['pay to GB82 WEST 1234 5698 7654 32 today', 1],
    ['DE89370400440532013000', 1],
    ['FR1420041010050500013M02606', 1],
    ['bad check digits GB83 WEST 1234 5698 7654 32', 0],
    ['wrong length GB82 WEST 1234 5698 7654', 0],
    ['unknown country ZZ82WEST12345698765432', 0],
  ];
  for (const [text, n] of rows) it(`${n} in "${text}"`, () => assert.equal(findIbans(text).length, n));
  it('mod 97', () => assert.equal(ibanValid('NL91ABNA0417164300'), true));
});

describe('U.S. Social Security numbers', () => {
  const rows: [string, number][] = [
    ['SSN 078-05-1120.', 1],
    ['ssn 123 45 6789', 1],
    ['never issued: 000-12-3456, 666-12-3456, 900-12-3456, 123-00-4567, 123-45-0000', 0],
    ['unformatted 123456789', 0],
    ['mixed 123-45 6789', 0],
    ['phone 555-123-4567', 0],
  ];
  for (const [text, n] of rows) it(`${n} in "${text}"`, () => assert.equal(findSsns(text).length, n));
});

it('countClassification takes EOP names in any case', () => {
  assert.equal(countClassification('Credit Card Number', '4111111111111111 and 5555555555554444'), 2);
  assert.equal(countClassification('international banking account number (iban)', 'DE89370400440532013000'), 1);
  assert.equal(countClassification('U.S. Social Security Number (SSN)', '078-05-1120'), 1);
});
