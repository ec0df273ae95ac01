// Storage faults on a real filesystem: the spool lives on a 2 MB tmpfs mounted by the test.
// Full disk: new mail gets 452 4.3.1 at the end of DATA, mail already queued is untouched and
// still delivered, and Sluice accepts again by itself once space returns. Read-only spool:
// 451 4.3.0, then normal service after remount rw. The daemon never restarts in between.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { startSluice, testConfig, type SluiceProcess } from '../helpers/sluice.js';
import { freePort } from '../helpers/ports.js';
import { RawSmtp } from '../helpers/raw-smtp.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';
import { spoolIds } from '../helpers/spool-files.js';

const TMPFS_BYTES = 2 * 1024 * 1024;
const QUEUED = 3;

let certs: CertSet;
let fsys: Tmpfs | undefined;
let skipReason: string | undefined;
let hostPort: number;
let host: SmartHost | undefined;
let sluice: SluiceProcess | undefined;
let spoolDir: string;

/** One transaction; resolves with the reply to the end of DATA (or the first refusal). */
async function transact(subject: string, bodyBytes = 200): Promise<string> {
  const c = await RawSmtp.connect(sluice!.port);
  try {
    await c.reply();
    await c.cmd('EHLO disk.fault.test');
    for (const line of ['MAIL FROM:<sun@example.org>', 'RCPT TO:<john@contoso.com>', 'DATA']) {
      const r = await c.cmd(line);
      if (!/^(250|354)/.test(r)) return r;
    }
    const body = 'x'.repeat(bodyBytes).replace(/(.{76})/g, '$1\r\n');
    const reply = await c.cmd(`From: <sun@example.org>\r\nTo: <john@contoso.com>\r\nSubject: ${subject}\r\n\r\n${body}\r\n.`);
    await c.cmd('QUIT').catch(() => '');
    return reply;
  } finally {
    c.close();
  }
}

/** Committed spool files; a state update's short-lived .state.tmp may come and go at any moment. */
const queueFiles = async () => (await readdir(path.join(spoolDir, 'queue'))).filter((f) => !f.endsWith('.tmp')).sort();
const journalSegments = async () => (await readdir(path.join(spoolDir, 'journal')).catch(() => [] as string[])).sort();
async function journalIdle(): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await journalSegments()).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await journalSegments(), [], 'the idle journal keeps no segment');
}
const alive = () => assert.equal(sluice!.proc.exitCode, null, `daemon still running; stderr: ${sluice!.stderr}`);
const subjects = () => host!.messages.map((m) => /^Subject: (.*)\r$/m.exec(m.raw.toString('latin1'))?.[1]);

before(async () => {
  certs = await makeCertSet();
  const m = await mountTmpfs(TMPFS_BYTES);
  if (typeof m === 'string') {
    skipReason = m;
    return;
  }
  fsys = m;
  spoolDir = path.join(m.dir, 'spool');
  hostPort = await freePort();
  sluice = await startSluice({
    certs,
    config: (port, dir) => ({
      ...testConfig({ port, dir, certs }),
      spool: { dir: spoolDir },
      // Off the tmpfs: an open trace database would keep it from being remounted read-only.
      trace: { path: path.join(dir, 'trace.db') },
      // The smart host comes up within the test: a down-mark (and the deferral it causes) lasts 1 s.
      delivery: { mxPort: 25, retry: { initial: '1s', max: '1s', lifetime: '1h' }, hostDownTime: '1s' },
      outboundConnectors: [{ name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${hostPort}`] }],
    }),
  });
});

after(async () => {
  await sluice?.stop();
  await host?.close();
  await fsys?.unmount();
});

describe('spool on a full disk', () => {
  test('with the smart host down, the sender gets 250 and the messages wait in queue/', async (t) => {
    if (skipReason) return t.skip(skipReason);
    for (let i = 0; i < QUEUED; i++) assert.match(await transact(`queued ${i}`, 20_000), /^250 /);
    assert.equal((await spoolIds(spoolDir)).length, QUEUED);
    await sluice!.waitForLog((l) => l.msg === 'delivery deferred');
    // Each first attempt ends in a deferral with its state on disk, before the disk is filled.
    const deadline = Date.now() + 10_000;
    while ((await queueFiles()).filter((f) => f.endsWith('.state')).length < QUEUED && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await queueFiles()).filter((f) => f.endsWith('.state')).length, QUEUED, 'every queued message has its deferred state');
  });

  test('a full spool answers 452 4.3.1 at the end of DATA; queued files are untouched and the daemon keeps running', async (t) => {
    if (skipReason) return t.skip(skipReason);
    // The journal's last segment goes once idle; gone after the fill, it would give back its space.
    await journalIdle();
    const before = await queueFiles();
    const bodies = await Promise.all(before.filter((f) => f.endsWith('.msg')).map((f) => readFile(path.join(spoolDir, 'queue', f))));
    const filled = await fsys!.fill();
    assert.ok(filled > 0);
    assert.match(await transact('while full, small'), /^452 4\.3\.1 /);
    assert.match(await transact('while full, large', 300_000), /^452 4\.3\.1 /);
    // Retries of the queued messages fail to update their record (ENOSPC) while the host is still
    // down; that must neither crash the daemon nor lose them. Give the 1 s retry time to run.
    await new Promise((r) => setTimeout(r, 2_500));
    alive();
    assert.deepEqual(await queueFiles(), before, 'no new or missing spool files');
    const after = await Promise.all(before.filter((f) => f.endsWith('.msg')).map((f) => readFile(path.join(spoolDir, 'queue', f))));
    assert.deepEqual(after, bodies, 'queued bodies unchanged');
    const queuedIds = new Set(before.map((f) => f.replace(/\..*$/, '')));
    const updateFailures = sluice!.logs.filter((l) => queuedIds.has(String(l.queueId)) && /ENOSPC/.test(JSON.stringify(l)));
    console.log(`disk-full: failed record updates logged while full: ${updateFailures.length} (${[...new Set(updateFailures.map((l) => l.msg))].join(', ')})`);
    assert.ok(updateFailures.length > 0, 'a retry ran while the disk was full and its ENOSPC was logged');
  });

  test('queued mail is delivered while the disk is still full, each message once', async (t) => {
    if (skipReason) return t.skip(skipReason);
    host = await startSmartHost({ port: hostPort });
    await host.waitFor(QUEUED, 15_000);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(subjects().sort(), Array.from({ length: QUEUED }, (_, i) => `queued ${i}`));
    assert.ok(!subjects().some((s) => s?.startsWith('while full')), 'nothing refused was delivered');
    assert.deepEqual(await queueFiles(), [], 'delivered messages left the spool even on a full disk');
    alive();
  });

  test('once the filler is removed, Sluice accepts and delivers again without a restart', async (t) => {
    if (skipReason) return t.skip(skipReason);
    await fsys!.free();
    assert.match(await transact('after space returned'), /^250 /);
    await host!.waitFor(QUEUED + 1, 10_000);
    assert.equal(subjects().filter((s) => s === 'after space returned').length, 1);
    alive();
  });
});

describe('read-only spool', () => {
  test('a read-only spool answers 451 4.3.0 and nothing is delivered', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const n = host!.messages.length;
    // A file open for writing refuses the remount: the journal closes its segment once idle.
    await journalIdle();
    await fsys!.remount('ro');
    assert.match(await transact('while read-only'), /^451 4\.3\.0 /);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(host!.messages.length, n);
    alive();
  });

  test('after remount rw, Sluice accepts and delivers again without a restart', async (t) => {
    if (skipReason) return t.skip(skipReason);
    await fsys!.remount('rw');
    assert.match(await transact('after remount rw'), /^250 /);
    await host!.waitFor(QUEUED + 2, 10_000);
    assert.deepEqual(subjects().filter((s) => s === 'while read-only'), []);
    assert.equal(subjects().filter((s) => s === 'after remount rw').length, 1);
    assert.equal(sluice!.logs.filter((l) => l.msg === 'sluice started').length, 1, 'never restarted');
    alive();
  });
});
