// Table tests for mailbox parsing: every classic relay trick is refused with its name; clean
// addresses come back with the domain lower-cased and IDN domains in punycode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMailbox } from '../../src/policy/address.js';

interface Row {
  name: string;
  input: string;
  expected: { trick: string } | { address: string; local: string; domain: string };
}

const ok = (local: string, domain: string) => ({ address: `${local}@${domain}`, local, domain });

const rows: Row[] = [
  { name: 'accepts a plain address', input: 'user@contoso.com', expected: ok('user', 'contoso.com') },
  { name: 'lower-cases the domain but keeps the local part', input: 'John.Doe@CONTOSO.Com', expected: ok('John.Doe', 'contoso.com') },
  { name: 'accepts plus addressing and other atext', input: "a+b_c-d'e=f@contoso.com", expected: ok("a+b_c-d'e=f", 'contoso.com') },
  { name: 'accepts a subdomain', input: 'user@sales.contoso.com', expected: ok('user', 'sales.contoso.com') },
  { name: 'normalises an IDN domain to punycode', input: 'user@bücher.de', expected: ok('user', 'xn--bcher-kva.de') },
  { name: 'normalises an upper-case IDN domain to the same punycode', input: 'user@BÜCHER.DE', expected: ok('user', 'xn--bcher-kva.de') },
  { name: 'keeps an already-punycode domain', input: 'user@xn--bcher-kva.de', expected: ok('user', 'xn--bcher-kva.de') },
  { name: 'folds an ideographic full stop into a dot', input: 'user@contoso。com', expected: ok('user', 'contoso.com') },
  { name: 'accepts a UTF-8 local part (SMTPUTF8)', input: 'jörg@contoso.com', expected: ok('jörg', 'contoso.com') },
  { name: 'refuses the percent hack', input: 'user%foreign.com@contoso.com', expected: { trick: 'percent-hack' } },
  { name: 'refuses a full-width percent hack', input: 'user％foreign.com@contoso.com', expected: { trick: 'percent-hack' } },
  { name: 'refuses a percent sign in the domain', input: 'user@foreign.com%contoso.com', expected: { trick: 'percent-hack' } },
  { name: 'refuses a source route', input: '@contoso.com:user@foreign.com', expected: { trick: 'source-route' } },
  { name: 'refuses a multi-hop source route', input: '@a.contoso.com,@b.contoso.com:user@foreign.com', expected: { trick: 'source-route' } },
  { name: 'refuses a colon in the local part', input: 'foreign.com:user@contoso.com', expected: { trick: 'source-route' } },
  { name: 'refuses a bang path', input: 'foreign.com!user@contoso.com', expected: { trick: 'bang-path' } },
  { name: 'refuses a bang path in the domain', input: 'user@contoso.com!foreign.com', expected: { trick: 'bang-path' } },
  { name: 'refuses a quoted local part hiding an at sign', input: '"user@foreign.com"@contoso.com', expected: { trick: 'quoted-at' } },
  { name: 'refuses a quoted local part with a space', input: '"john doe"@contoso.com', expected: { trick: 'whitespace' } },
  { name: 'refuses a quoted local part without spaces', input: '"john"@contoso.com', expected: { trick: 'quoted-local' } },
  { name: 'refuses an IPv4 address literal', input: 'user@[1.2.3.4]', expected: { trick: 'address-literal' } },
  { name: 'refuses an IPv6 address literal', input: 'user@[IPv6:2001:db8::1]', expected: { trick: 'address-literal' } },
  { name: 'refuses a bare IPv4 domain', input: 'user@1.2.3.4', expected: { trick: 'address-literal' } },
  { name: 'refuses a hexadecimal IPv4 domain', input: 'user@0x7f.1', expected: { trick: 'address-literal' } },
  { name: 'refuses a trailing dot on the domain', input: 'user@contoso.com.', expected: { trick: 'trailing-dot' } },
  { name: 'refuses two at signs', input: 'user@foreign.com@contoso.com', expected: { trick: 'multiple-at' } },
  { name: 'refuses a doubled at sign', input: 'user@@contoso.com', expected: { trick: 'multiple-at' } },
  { name: 'refuses a full-width at sign in the local part', input: 'user＠foreign.com@contoso.com', expected: { trick: 'multiple-at' } },
  { name: 'refuses an address without a domain', input: 'user', expected: { trick: 'no-domain' } },
  { name: 'refuses an empty domain', input: 'user@', expected: { trick: 'no-domain' } },
  { name: 'refuses an empty local part', input: '@contoso.com', expected: { trick: 'no-local-part' } },
  { name: 'refuses a single-label domain', input: 'user@localhost', expected: { trick: 'bad-domain' } },
  { name: 'refuses a domain with an empty label', input: 'user@contoso..com', expected: { trick: 'bad-domain' } },
  { name: 'refuses a domain with a port', input: 'user@contoso.com:25', expected: { trick: 'bad-domain' } },
  { name: 'refuses an underscore in the domain', input: 'user@con_toso.com', expected: { trick: 'bad-domain' } },
  { name: 'refuses a CRLF injection', input: 'user@contoso.com\r\nRCPT TO:<x@foreign.com>', expected: { trick: 'control-chars' } },
  { name: 'refuses a NUL byte', input: 'user\u0000@contoso.com', expected: { trick: 'control-chars' } },
  { name: 'refuses white space', input: 'user @contoso.com', expected: { trick: 'whitespace' } },
  { name: 'refuses angle brackets left in the address', input: '<user@contoso.com>', expected: { trick: 'bad-local-part' } },
  { name: 'refuses a leading dot in the local part', input: '.user@contoso.com', expected: { trick: 'bad-local-part' } },
  { name: 'refuses consecutive dots in the local part', input: 'us..er@contoso.com', expected: { trick: 'bad-local-part' } },
  { name: 'refuses a backslash escape', input: 'user\\@foreign.com@contoso.com', expected: { trick: 'multiple-at' } },
  { name: 'refuses a backslash in the local part', input: 'user\\x@contoso.com', expected: { trick: 'bad-local-part' } },
  { name: 'refuses a local part over 64 octets', input: `${'a'.repeat(65)}@contoso.com`, expected: { trick: 'bad-local-part' } },
  { name: 'refuses an address over 254 octets', input: `user@${'a'.repeat(62)}.${'b'.repeat(62)}.${'c'.repeat(62)}.${'d'.repeat(62)}.com`, expected: { trick: 'too-long' } },
  { name: 'refuses the empty string (callers handle the null sender)', input: '', expected: { trick: 'empty' } },
];

for (const { name, input, expected } of rows) {
  test(`parseMailbox ${name}`, () => {
    const got = parseMailbox(input);
    if ('trick' in expected) {
      assert.equal(got.ok, false, `expected a refusal for ${JSON.stringify(input)}`);
      if (!got.ok) {
        assert.equal(got.trick, expected.trick);
        assert.ok(got.detail.length > 0);
      }
    } else {
      assert.deepEqual(got, { ok: true, ...expected });
    }
  });
}

test('parseMailbox makes case and IDN variants of a domain compare equal', () => {
  const forms = ['user@bücher.de', 'user@BÜCHER.de', 'user@xn--bcher-kva.de', 'user@XN--BCHER-KVA.DE'];
  const domains = forms.map((f) => {
    const p = parseMailbox(f);
    assert.ok(p.ok);
    return p.domain;
  });
  assert.deepEqual(new Set(domains), new Set(['xn--bcher-kva.de']));
});
