// `sluice check`: a one-line summary and exit 0 for a valid config, every issue and exit 1
// otherwise, or the same as JSON with --json.
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCheck, type CheckOutput } from '../../src/cli/check.js';
import type { ConfigIssue } from '../../src/config/load.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url)); // dist/test/unit → repo root
const fixture = (name: string) => resolve(ROOT, 'test/fixtures/config', name);

describe('sluice check', () => {
  async function capture(fn: (io: CheckOutput) => Promise<number>): Promise<{ code: number; out: string; err: string }> {
    const r = { code: 0, out: '', err: '' };
    r.code = await fn({ out: (s) => void (r.out += s), err: (s) => void (r.err += s) });
    return r;
  }

  it('prints a summary and exits 0 for a valid config', async () => {
    const r = await capture((io) => runCheck({ config: resolve(ROOT, 'config/examples/hybrid-two-sites.yaml') }, io));
    assert.equal(r.code, 0);
    assert.match(r.out, /^OK: .*hybrid-two-sites\.yaml: 2 inbound, 3 outbound connectors, 4 accepted domains\n$/);
  });

  it('prints every issue to stderr and exits 1 for an invalid config', async () => {
    const r = await capture((io) => runCheck({ config: fixture('many-errors.yaml') }, io));
    assert.equal(r.code, 1);
    assert.equal(r.err.trim().split('\n').length, 3);
  });

  it('prints JSON with --json', async () => {
    const r = await capture((io) => runCheck({ config: fixture('many-errors.yaml'), json: true }, io));
    const report = JSON.parse(r.out) as { ok: boolean; issues: ConfigIssue[] };
    assert.equal(report.ok, false);
    assert.equal(report.issues.length, 3);
  });
});
