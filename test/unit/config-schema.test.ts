// The shipped JSON Schema (config/sluice.schema.json) for editors: it is what `sluice schema`
// generates from the zod schema today, every YAML file under config/ names it in its
// yaml-language-server line (and so does the Compose seed's) and passes it under an independent validator (ajv, draft 2020-12),
// and it rejects what Sluice rejects for the common mistakes an editor should flag.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { configJsonSchemaText, SHIPPED_SCHEMA_PATH } from '../../src/config/json-schema.js';
import { REPO_ROOT, CLI } from '../helpers/sluice.js';

const SCHEMA_FILE = resolve(REPO_ROOT, SHIPPED_SCHEMA_PATH);
const shipped = readFileSync(SCHEMA_FILE, 'utf8');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(JSON.parse(shipped) as object);
const errorsOf = (doc: unknown): string[] =>
  validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);

const MINIMAL = {
  server: { hostname: 'gw.example', listen: [{ host: '127.0.0.1', port: 2525 }], tls: { cert: 'a.crt', key: 'a.key' } },
};

describe('config/sluice.schema.json', () => {
  it('is what `sluice schema` generates from the zod schema (run `npm run schema` after changing a key)', () => {
    assert.equal(shipped, configJsonSchemaText());
  });

  it('is printed by `sluice schema`', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'schema'], { cwd: REPO_ROOT });
    assert.equal(stdout, shipped);
  });

  it('carries EOP spellings, input-side units and descriptions', () => {
    const s = JSON.parse(shipped) as { properties: Record<string, any> };
    const inbound = s.properties.inboundConnectors.items.properties;
    assert.deepEqual(inbound.connectorType.enum, ['OnPremises', 'Partner']);
    assert.match(inbound.tlsSenderCertificateName.description, /client certificate/);
    const limits = s.properties.server.properties.limits.properties;
    assert.deepEqual(limits.maxMessageSize.type, ['string', 'number']);
    assert.equal(limits.maxMessageSize.default, '35MB');
    assert.equal(s.properties.server.properties.hostname.type, 'string');
  });

  // Every config the repository ships: config/ and the Compose seed's.
  const files = [...yamlFiles(resolve(REPO_ROOT, 'config')), resolve(REPO_ROOT, 'examples/compose/sluice.yaml')];
  it('finds the example configs', () => assert.ok(files.length >= 5, files.join(', ')));
  for (const file of files) {
    const name = relative(REPO_ROOT, file);
    it(`${name} names the schema on its first line and validates against it`, () => {
      const text = readFileSync(file, 'utf8');
      const first = text.split('\n', 1)[0] ?? '';
      const m = /^# yaml-language-server: \$schema=(\S+)$/.exec(first);
      assert.ok(m?.[1], `${name} must start with "# yaml-language-server: $schema=<relative path>"`);
      assert.equal(resolve(dirname(file), m[1]), SCHEMA_FILE, `${name}: the $schema path must lead to ${SHIPPED_SCHEMA_PATH}`);
      assert.deepEqual(errorsOf(parse(text)), []);
    });
  }

  const rejected: { name: string; doc: unknown; error: RegExp }[] = [
    { name: 'a misspelt key', doc: { ...MINIMAL, delivery: { softBounse: true } }, error: /additional properties/ },
    { name: 'an unknown connector type', doc: { ...MINIMAL, inboundConnectors: [{ name: 'x', connectorType: 'Hybrid' }] }, error: /allowed values/ },
    { name: 'a missing server.hostname', doc: { server: { ...MINIMAL.server, hostname: undefined } }, error: /hostname/ },
    { name: 'a port out of range', doc: { server: { ...MINIMAL.server, listen: [{ host: '::', port: 70000 }] } }, error: /<= 65535/ },
    { name: 'a list where a size goes', doc: { server: { ...MINIMAL.server, limits: { maxMessageSize: [1] } } }, error: /must be string,number/ },
  ];
  for (const r of rejected) {
    it(`rejects ${r.name}`, () => {
      const errors = errorsOf(JSON.parse(JSON.stringify(r.doc)));
      assert.ok(errors.some((e) => r.error.test(e)), errors.join('; ') || 'no error');
    });
  }
  it('accepts the smallest config Sluice accepts', () => assert.deepEqual(errorsOf(MINIMAL), []));
});
