// The schema helpers that feature sections build on (section, parsed, eopEnum, flag) behave the
// same under zod 4 as the config tests expect: a left-out section gets its inner defaults, a
// parsed default is parsed, and errors keep Sluice's wording.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { count, duration, eopEnum, flag, section, size } from '../../src/config/schema.js';
import { loadConfigText } from '../../src/config/load.js';

const demo = z
  .object({
    demo: section(
      z
        .object({
          enabled: flag(true),
          retries: count(3),
          wait: duration.prefault('90s'),
          nested: section(z.object({ max: size.prefault('1MB') }).strict()),
        })
        .strict(),
    ),
  })
  .strict();

const messages = (input: unknown): string[] => {
  const r = demo.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('schema helpers', () => {
  it('fills every inner default when the whole section is left out', () => {
    assert.deepEqual(demo.parse({}), { demo: { enabled: true, retries: 3, wait: 90_000, nested: { max: 1_048_576 } } });
  });

  it('parses a default written in config units, as if the admin had written it', () => {
    assert.equal(demo.parse({ demo: { nested: {} } }).demo.nested.max, 1_048_576);
  });

  it('keeps the wording of flag and enum errors', () => {
    assert.deepEqual(messages({ demo: { enabled: 'yes' } }), ['demo.enabled: expected true or false']);
    const e = z.object({ t: eopEnum(['OnPremises', 'Partner']) });
    assert.equal(e.parse({ t: 'onpremises' }).t, 'OnPremises');
    const r = e.safeParse({ t: 'Hybrid' });
    assert.equal(r.success ? '' : r.error.issues[0]?.message, '"Hybrid" must be one of OnPremises, Partner');
  });

  it('reports an unknown key inside a section with a did-you-mean hint', () => {
    assert.deepEqual(messages({ demo: { retires: 2 } }).length, 1);
    const text = 'server:\n  hostname: gw.example\n  listen: [{ host: 127.0.0.1, port: 0 }]\n  tls: { cert: a, key: b }\n  limits: { idleTimout: 5s }\n';
    assert.throws(() => loadConfigText(text, 't.yaml'), /unknown key "idleTimout" \(did you mean "idleTimeout"\?\)/);
  });

  it('names a missing required key plainly', () => {
    assert.throws(() => loadConfigText('server:\n  listen: []\n', 't.yaml'), /server\.hostname: required key is missing/);
    assert.throws(() => loadConfigText('server:\n  hostname: gw.example\n  listen: [{ host: 127.0.0.1 }]\n  tls: { cert: a, key: b }\n', 't.yaml'), /server\.listen\[0\]\.port: required key is missing/);
  });
});
