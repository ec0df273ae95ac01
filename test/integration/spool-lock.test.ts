// One daemon per spool: a second daemon on the same spool exits at once with E_SPOOL_LOCKED
// naming the first one's pid while the first delivers each message once; the lock of a daemon
// killed with SIGKILL, or one naming a pid that now belongs to another process, is taken over
// with a log line; processes racing for a stale lock get exactly one winner; an offline queue
// tool refuses when a daemon holds the lock but its control socket does not answer.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, unlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { launch, REPO_ROOT, runCli, testConfig, type LogLine, type SluiceProcess } from '../helpers/sluice.js';
import { freePort } from '../helpers/ports.js';
import { testRecord, writeMessage } from '../helpers/spool-files.js';

const MESSAGES = 20;
const RACERS = 6;
const RACE_ROUNDS = 3;

let certs: CertSet;
const hosts: SmartHost[] = [];
const daemons: SluiceProcess[] = [];

before(async () => {
  certs = await makeCertSet();
});

after(async () => {
  for (const d of daemons) await d.stop();
  for (const h of hosts) await h.close();
});

const body = (subject: string) => `From: <sun@example.org>\r\nTo: <john@contoso.com>\r\nSubject: ${subject}\r\n\r\nHello.\r\n`;
const subjectOf = (raw: Buffer) => /^Subject: (.*)\r$/m.exec(raw.toString('latin1'))?.[1];

/** A fresh dir with `count` messages queued in its spool, and a config (on its own port) for it. */
async function spoolWithMail(count: number, hostPort: number): Promise<{ dir: string; spoolDir: string; config: () => Promise<{ path: string; port: number }> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-lock-'));
  const spoolDir = path.join(dir, 'spool');
  for (let i = 0; i < count; i++) {
    const id = `00000000000${i.toString(16).toUpperCase().padStart(2, '0')}LOCK`;
    await writeMessage(spoolDir, body(`lock ${i}`), testRecord(id, Buffer.byteLength(body(`lock ${i}`))));
  }
  let n = 0;
  const config = async () => {
    const port = await freePort();
    const file = path.join(dir, `sluice-${n++}.yaml`);
    await writeFile(
      file,
      stringify({
        ...testConfig({ port, dir, certs }),
        outboundConnectors: [{ name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${hostPort}`] }],
      }),
    );
    return { path: file, port };
  };
  return { dir, spoolDir, config };
}

const jsonLines = (text: string): LogLine[] =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

describe('two daemons on one spool', () => {
  test('the second exits non-zero at once with E_SPOOL_LOCKED naming the first; the first delivers each message once', async () => {
    const host = await startSmartHost({ delayMs: 20 });
    hosts.push(host);
    const s = await spoolWithMail(MESSAGES, host.port);
    const a = await s.config();
    const first = await launch(s.dir, a.path, a.port);
    daemons.push(first);
    const b = await s.config();
    const second = await runCli(['start', '--config', b.path], s.dir);
    assert.notEqual(second.code, 0, 'the second daemon fails');
    assert.match(second.stderr, new RegExp(`locked by pid ${first.proc.pid}\\b.*\\(E_SPOOL_LOCKED\\)`));
    const fatal = jsonLines(second.stdout).find((l) => l.code === 'E_SPOOL_LOCKED');
    assert.equal(fatal?.lockPid, first.proc.pid, 'the log line names the holder');
    assert.ok(!jsonLines(second.stdout).some((l) => l.msg === 'spool recovered' || l.stage === 'deliver'), 'the second daemon read no mail and delivered nothing');
    await Promise.all(Array.from({ length: MESSAGES }, (_, i) => first.waitForLog((l) => l.msg === 'message done' && String(l.queueId).endsWith(`${i.toString(16).toUpperCase().padStart(2, '0')}LOCK`), 20_000)));
    const subjects = host.messages.map((m) => subjectOf(m.raw)).sort();
    assert.deepEqual(subjects, Array.from({ length: MESSAGES }, (_, i) => `lock ${i}`).sort(), 'each message once');
  });
});

describe('stale locks', () => {
  test('the lock of a daemon killed with SIGKILL is taken over with a log line, and its mail delivered', async () => {
    const hostPort = await freePort(); // nothing listens yet: every attempt is deferred
    const s = await spoolWithMail(3, hostPort);
    const a = await s.config();
    const first = await launch(s.dir, a.path, a.port);
    await first.waitForLog((l) => l.msg === 'delivery deferred');
    const pid = first.proc.pid;
    await first.kill();
    const lock = JSON.parse(await readFile(path.join(s.spoolDir, 'sluice.lock'), 'utf8')) as { pid: number };
    assert.equal(lock.pid, pid, 'SIGKILL leaves the lock file behind');
    const host = await startSmartHost({ port: hostPort });
    hosts.push(host);
    const again = await first.restart();
    daemons.push(again);
    const took = await again.waitForLog((l) => l.msg === 'took over a stale spool lock');
    assert.equal(took.previousPid, pid);
    await host.waitFor(3, 15_000);
    assert.deepEqual(host.messages.map((m) => subjectOf(m.raw)).sort(), ['lock 0', 'lock 1', 'lock 2']);
  });

  test('a lock naming a live pid with another start time (a reused pid) is stale', async () => {
    const s = await spoolWithMail(0, 1);
    await mkdir(s.spoolDir, { recursive: true });
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
    // This test process is alive, but it is not the process that "wrote" this lock.
    const reused = { pid: process.pid, startTicks: 1, bootId: boot, host: hostname(), owner: 'sluice daemon', since: new Date(0).toISOString() };
    await writeFile(path.join(s.spoolDir, 'sluice.lock'), JSON.stringify(reused));
    const a = await s.config();
    const d = await launch(s.dir, a.path, a.port);
    daemons.push(d);
    const took = await d.waitForLog((l) => l.msg === 'took over a stale spool lock');
    assert.equal(took.previousPid, process.pid);
    const now = JSON.parse(await readFile(path.join(s.spoolDir, 'sluice.lock'), 'utf8')) as { pid: number };
    assert.equal(now.pid, d.proc.pid, 'the lock names the new daemon');
  });

  test(`${RACERS} processes racing for one stale lock: exactly one takes it`, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sluice-lockrace-'));
    const script = `
      import { SpoolLock } from ${JSON.stringify(path.join(REPO_ROOT, 'dist/src/queue/spool-lock.js'))};
      const lock = new SpoolLock(process.argv[1], 'racer');
      process.stdin.once('data', async () => {
        try { await lock.acquire(() => {}); console.log('won'); } catch (e) { console.log('lost ' + e.code); }
      });
      process.stdin.once('end', () => lock.release());
      console.log('ready');`;
    for (let round = 0; round < RACE_ROUNDS; round++) {
      await writeFile(path.join(dir, 'sluice.lock'), JSON.stringify({ pid: 999_999_999, startTicks: 1, bootId: null, host: 'gone', owner: 'dead', since: '' }));
      const kids = Array.from({ length: RACERS }, () => spawn(process.execPath, ['--input-type=module', '-e', script, dir], { stdio: ['pipe', 'pipe', 'inherit'] }));
      const lines = kids.map((k) => {
        let out = '';
        k.stdout.setEncoding('utf8');
        return (want: RegExp) => new Promise<string>((resolve) => {
          const check = () => {
            const m = want.exec(out);
            if (m) resolve(m[0]);
          };
          k.stdout.on('data', (c: string) => {
            out += c;
            check();
          });
          check();
        });
      });
      await Promise.all(lines.map((l) => l(/ready/)));
      for (const k of kids) k.stdin.write('go\n');
      const results = await Promise.all(lines.map((l) => l(/won|lost \w+/)));
      for (const k of kids) k.stdin.end();
      await Promise.all(kids.map((k) => new Promise((r) => k.once('exit', r))));
      assert.equal(results.filter((r) => r === 'won').length, 1, `round ${round}: one winner (${results.join(', ')})`);
      assert.deepEqual(results.filter((r) => r !== 'won'), Array(RACERS - 1).fill('lost E_SPOOL_LOCKED'));
    }
  });
});

describe('queue tools and the lock', () => {
  test('an offline change is refused cleanly when a daemon holds the lock but its control socket does not answer', async () => {
    const hostPort = await freePort();
    const s = await spoolWithMail(1, hostPort);
    const a = await s.config();
    const d = await launch(s.dir, a.path, a.port);
    daemons.push(d);
    await unlink(path.join(s.spoolDir, 'control.sock'));
    const r = await runCli(['queue', 'hold', '0000000000000LOCK', '--json', '--config', a.path], s.dir);
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as { ok: boolean; code: string; error: string; mode: string };
    assert.equal(out.code, 'E_SPOOL_LOCKED');
    assert.match(out.error, new RegExp(`locked by pid ${d.proc.pid}\\b`));
    const held = await runCli(['queue', 'list', '--status', 'hold', '--config', a.path], s.dir);
    assert.match(held.stdout, /-- 0 messages/, 'nothing was changed');
  });
});
