// Config keys of issue 9's trust part: recipient validation, DKIM keys, treatMessagesAsInternal,
// request deadlines. Every error must name its key path.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync as writeTmp } from 'node:fs';
import { tmpdir as tmpDir } from 'node:os';
import { join as joinPath } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { configSchema } from '../../src/config/schema.js';
import { compileConfig } from '../../src/config/compile.js';

describe('issue 9 trust keys', () => {
  const dir = mkdtempSync(joinPath(tmpDir(), 'sluice-trustcfg-'));
  const keyFile = joinPath(dir, 'k.key');
  writeTmp(keyFile, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  const listFile = joinPath(dir, 'valid.txt');
  writeTmp(listFile, 'john@contoso.com\n');
  const base = {
    server: { hostname: 'gw.contoso.com', listen: [{ host: '127.0.0.1', port: 25 }], tls: { cert: 'c', key: 'k' } },
  };
  const compile = (extra: Record<string, unknown>) => {
    const parsedConfig = configSchema.safeParse({ ...base, ...extra });
    if (!parsedConfig.success) return { issues: parsedConfig.error.issues.map((i) => ({ path: i.path, message: i.message })) };
    const r = compileConfig(parsedConfig.data, '/x.yaml');
    return r.ok ? { model: r.model } : { issues: r.issues };
  };
  const paths = (r: { issues?: readonly { path: readonly PropertyKey[] }[] }) => (r.issues ?? []).map((i) => i.path.join('.'));

  test('recipientValidation mode List without a list, or with a missing file, is an error at the key path', () => {
    assert.deepEqual(paths(compile({ acceptedDomains: [{ domain: 'contoso.com', recipientValidation: { mode: 'List' } }] })), ['acceptedDomains.0.recipientValidation.list']);
    const r = compile({ acceptedDomains: [{ domain: 'contoso.com', recipientValidation: { mode: 'list', list: joinPath(dir, 'nope.txt') } }] });
    assert.deepEqual(paths(r), ['acceptedDomains.0.recipientValidation.list']);
    assert.match(r.issues![0]!.message, /ENOENT/);
  });

  test('recipientValidation compiles with EOP spelling, an absolute list path and the cache in ms', () => {
    const r = compile({ acceptedDomains: [{ domain: 'contoso.com', recipientValidation: { mode: 'list', list: listFile, cache: '10m' } }] });
    assert.deepEqual(r.model?.acceptedDomains[0]?.recipientValidation, { mode: 'List', list: listFile, cacheMs: 600_000 });
  });

  test('a missing or malformed DKIM key file is an error naming dkimSigning[i].privateKey', () => {
    const bad = joinPath(dir, 'bad.key');
    writeTmp(bad, 'not a key');
    const r = compile({
      dkimSigning: [
        { domain: 'contoso.com', selector: 's1', privateKey: joinPath(dir, 'missing.key') },
        { domain: 'fabrikam.com', selector: 's1', privateKey: bad },
      ],
    });
    assert.deepEqual(paths(r), ['dkimSigning.0.privateKey', 'dkimSigning.1.privateKey']);
  });

  test('a DKIM key is read at load time into the model', () => {
    const r = compile({ dkimSigning: [{ domain: 'Contoso.com', selector: 'Selector1', privateKey: keyFile }] });
    const k = r.model?.dkimSigning[0];
    assert.deepEqual([k?.domain, k?.selector, k?.enabled, k?.keyFile], ['contoso.com', 'selector1', true, keyFile]);
    assert.match(k!.privateKeyPem, /BEGIN PRIVATE KEY/);
  });

  test('treatMessagesAsInternal is only valid on an OnPremises inbound connector', () => {
    const r = compile({ inboundConnectors: [{ name: 'P', connectorType: 'Partner', senderDomains: ['fabrikam.com'], treatMessagesAsInternal: true }] });
    assert.deepEqual(paths(r), ['inboundConnectors.0.treatMessagesAsInternal']);
  });

  test('the request deadlines have Postfix-like defaults and accept units', () => {
    const r = compile({ server: { ...base.server, limits: { commandTimeout: '90s', dataTimeout: '20m' } } });
    assert.deepEqual([r.model?.server.limits.commandTimeoutMs, r.model?.server.limits.dataTimeoutMs, r.model?.server.limits.maxSessionDurationMs], [90_000, 1_200_000, 1_800_000]);
  });
});

describe('config/examples/protected-signing.yaml', () => {
  test('loads without warnings once its DKIM key and recipient list exist', async () => {
    const { loadConfigFileWithWarnings } = await import('../../src/config/load.js');
    const { fileURLToPath } = await import('node:url');
    const { mkdirSync } = await import('node:fs');
    const example = fileURLToPath(new URL('../../../config/examples/protected-signing.yaml', import.meta.url));
    const cwd = mkdtempSync(joinPath(tmpDir(), 'sluice-example-'));
    mkdirSync(joinPath(cwd, 'certs/dkim'), { recursive: true });
    mkdirSync(joinPath(cwd, 'config'));
    writeTmp(joinPath(cwd, 'certs/dkim/contoso.com.selector1.key'), generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    writeTmp(joinPath(cwd, 'config/valid-recipients.txt'), 'john@contoso.com\n');
    const before = process.cwd();
    process.chdir(cwd); // relative paths in a config are relative to the working directory
    try {
      const { model, warnings } = await loadConfigFileWithWarnings(example);
      assert.deepEqual(warnings, []);
      assert.equal(model.dkimSigning.length, 1);
      assert.equal(model.acceptedDomains[0]?.recipientValidation?.mode, 'List');
      assert.equal(model.inboundConnectors[0]?.treatMessagesAsInternal, true);
    } finally {
      process.chdir(before);
    }
  });
});
