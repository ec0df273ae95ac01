// The queue tools against the real daemon and the real CLI: messages deferred by an on-prem smart
// host that answers 450 are listed, held, released, retried, deleted and bounced, and what the
// smart hosts then receive (or never receive) proves each change. Retries are 60 s apart, so any
// prompt delivery here can only come from the tool. Last, the same tools with the daemon stopped.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { runCli, startSluice, type SluiceProcess } from '../helpers/sluice.js';
import { message, send } from '../helpers/clients.js';
import { readSpoolRecord, spoolHas } from '../helpers/spool-files.js';

const SENDER = 'sun@example.org';
/** Well under the 60 s retry interval: a delivery this soon was caused by the command. */
const PROMPT_MS = 8_000;

let certs: CertSet;
let hub: SmartHost;
let internet: SmartHost;
let sluice: SluiceProcess;
let accepting = false;
const ids: Record<string, string> = {};

const queue = (...args: string[]) => runCli(['queue', ...args, '--config', sluice.configPath], sluice.dir);
const subjectsAt = (host: SmartHost) => host.messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString('latin1'))?.[1]?.trim());

async function sendDeferred(subject: string): Promise<string> {
  const info = await send({ port: sluice.port, from: SENDER, to: ['john@contoso.com'], raw: message({ from: SENDER, to: 'john@contoso.com', subject }) });
  const id = /queued as ([0-9A-F]+)/.exec(info.response)?.[1];
  assert.ok(id, info.response);
  await sluice.waitForLog((l) => l.msg === 'delivery deferred' && l.queueId === id);
  ids[subject] = id;
  return id;
}

/** The deferral is logged before it is written; stopping in between would race the write. */
async function waitPersisted(id: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const rec = await readSpoolRecord(path.join(sluice.dir, 'spool'), id);
    if ((rec?.attempts ?? 0) >= 1) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${id} deferral never persisted`);
}

async function waitForSubject(host: SmartHost, subject: string, ms = PROMPT_MS): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (subjectsAt(host).includes(subject)) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${subject} not delivered within ${ms} ms; got ${JSON.stringify(subjectsAt(host))}`);
}

before(async () => {
  certs = await makeCertSet();
  hub = await startSmartHost({ onRcpt: () => (accepting ? null : '450 4.2.0 try later') });
  internet = await startSmartHost();
  sluice = await startSluice({
    certs,
    patch: {
      delivery: { mxPort: 25, retry: { initial: '60s', max: '60s', lifetime: '1h' } },
      outboundConnectors: [
        { name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${hub.port}`] },
        { name: 'To internet', connectorType: 'Partner', recipientDomains: ['*'], smartHosts: [`127.0.0.1:${internet.port}`] },
      ],
    },
  });
  for (const s of ['alpha', 'bravo', 'charlie', 'delta', 'echo']) await sendDeferred(s);
});

after(async () => {
  await sluice?.stop();
  await hub?.close();
  await internet?.close();
});

describe('with the daemon running', () => {
  test('queue list shows deferred messages with per-recipient state, connector and the last error', async () => {
    const r = await queue('list');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ID +SIZE +AGE +ATTEMPTS +NEXT +STATUS +SENDER$/m);
    const line = r.stdout.split('\n').find((l) => l.startsWith(ids.alpha!));
    assert.ok(line, r.stdout);
    assert.match(line!, / 1 +in \d+[sm] +deferred +<sun@example\.org>$/);
    const idx = r.stdout.indexOf(line!);
    assert.match(r.stdout.slice(idx), /^ {2}<john@contoso\.com> pending \[To on-prem\] .*450 4\.2\.0 try later$/m);
    assert.match(r.stdout, /^-- 5 messages, \d+ bytes$/m);
  });

  test('queue list filters by --status and by --connector (case-insensitive)', async () => {
    const deferred = await queue('list', '--status', 'deferred');
    const held = await queue('list', '--status', 'hold');
    const byConnector = await queue('list', '--connector', 'to ON-PREM');
    const other = await queue('list', '--connector', 'To internet');
    assert.match(deferred.stdout, /-- 5 messages/);
    assert.match(held.stdout, /-- 0 messages/);
    assert.match(byConnector.stdout, /-- 5 messages/);
    assert.match(other.stdout, /-- 0 messages/);
    const bad = await queue('list', '--status', 'stuck');
    assert.equal(bad.code, 1);
  });

  test('queue list --json prints one parsable object per message', async () => {
    const r = await queue('list', '--json');
    assert.equal(r.code, 0, r.stderr);
    const entries = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(entries.length, 5);
    const alpha = entries.find((e) => e.id === ids.alpha) as { status: string; sender: string; attempts: number; recipients: Record<string, unknown>[] };
    assert.equal(alpha.status, 'deferred');
    assert.equal(alpha.sender, SENDER);
    assert.equal(alpha.attempts, 1);
    assert.equal(alpha.recipients[0]!.state, 'pending');
    assert.equal(alpha.recipients[0]!.connector, 'To on-prem');
    assert.match(String(alpha.recipients[0]!.lastError), /450 4\.2\.0 try later/);
  });

  test('queue show prints one message with its headers; an unknown id exits 1', async () => {
    const r = await queue('show', ids.alpha!);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Status: +deferred$/m);
    assert.match(r.stdout, /last error: .*try later/);
    assert.match(r.stdout, /^ {2}Subject: alpha$/m);
    const missing = await queue('show', 'NOSUCHID');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^queue: no message NOSUCHID$/m);
    const retryMissing = await queue('retry', 'NOSUCHID');
    assert.equal(retryMissing.code, 1);
    assert.match(retryMissing.stderr, /queue: no message NOSUCHID/);
  });

  test('queue delete removes a message for good, through the running daemon', async () => {
    const r = await queue('delete', ids.delta!);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /deleted .*via the running daemon/);
    assert.equal(statSync(path.join(sluice.dir, 'spool/control.sock')).mode & 0o777, 0o600, 'only the daemon\'s user may connect');
    assert.equal((await queue('show', ids.delta!)).code, 1);
    assert.equal(await spoolHas(path.join(sluice.dir, 'spool'), ids.delta!), false, 'gone from the spool');
  });

  test('queue bounce fails the recipients, leaves the queue and sends the sender a DSN', async () => {
    const r = await queue('bounce', ids.echo!);
    assert.equal(r.code, 0, r.stderr);
    const failed = await queue('list', '--status', 'failed', '--json');
    const entry = failed.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((e: { id: string }) => e.id === ids.echo);
    assert.ok(entry, failed.stdout);
    assert.equal(entry.recipients[0].state, 'failed');
    assert.equal(entry.recipients[0].lastError, '5.0.0 Bounced by administrator (queue bounce)');
    assert.doesNotMatch((await queue('list')).stdout, new RegExp(ids.echo!));
    const [dsn] = await internet.waitFor(1, PROMPT_MS);
    assert.equal(dsn!.mailFrom, '');
    assert.deepEqual(dsn!.rcptTo, [SENDER]);
    assert.match(dsn!.raw.toString('latin1'), /report-type=delivery-status/);
    assert.match(dsn!.raw.toString('latin1'), /Bounced by administrator/);
  });

  test('a held message is not delivered; retry ID and retry --all deliver the others at once', async () => {
    const held = await queue('hold', ids.alpha!);
    assert.equal(held.code, 0, held.stderr);
    assert.match((await queue('list', '--status', 'hold')).stdout, new RegExp(`^${ids.alpha}\\b.* hold +<`, 'm'));
    accepting = true;
    const refused = await queue('retry', ids.alpha!);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /on hold/);

    assert.equal((await queue('retry', ids.charlie!)).code, 0);
    await waitForSubject(hub, 'charlie');
    const all = await queue('retry', '--all');
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /retrying 1 message /);
    await waitForSubject(hub, 'bravo');
    await new Promise((r) => setTimeout(r, 1_000));
    assert.deepEqual(subjectsAt(hub).sort(), ['bravo', 'charlie'], 'held and deleted messages never delivered');
  });

  test('queue release puts a held message back and it is delivered at once', async () => {
    const r = await queue('release', ids.alpha!);
    assert.equal(r.code, 0, r.stderr);
    await waitForSubject(hub, 'alpha');
    await sluice.waitForLog((l) => l.msg === 'message done' && l.queueId === ids.alpha);
    assert.match((await queue('list')).stdout, /^-- 0 messages/m);
    assert.deepEqual(subjectsAt(hub).sort(), ['alpha', 'bravo', 'charlie']);
  });
  test('queue list and show see a message in its first attempt, which only the journal holds', async () => {
    hub.setBehaviour({ delayMs: 3_000, onData: () => '451 4.3.0 slow disk, try again later' });
    try {
      const info = await send({ port: sluice.port, from: SENDER, to: ['john@contoso.com'], raw: message({ from: SENDER, to: 'john@contoso.com', subject: 'foxtrot' }) });
      const id = /queued as ([0-9A-F]+)/.exec(info.response)![1]!;
      assert.equal(existsSync(path.join(sluice.dir, 'spool', 'queue', `${id}.msg`)), false, 'no file of its own yet');
      const listedAt = Date.now();
      const listed = (await queue('list', '--json')).stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; status: string });
      const shown = await queue('show', id);
      const attempt = await sluice.waitForLog((l) => l.msg === 'delivery deferred' && l.queueId === id);
      assert.ok(listedAt < Date.parse(String(attempt.time)), 'listed while the first attempt was in flight');
      assert.deepEqual(listed.filter((e) => e.id === id).map((e) => e.status), ['active']);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /^  Subject: foxtrot$/m, "the header block, read from the journal");
      assert.equal((await queue('delete', id)).code, 0);
    } finally {
      hub.setBehaviour({ delayMs: 0, onData: () => null });
    }
  });

  test('a hold sent while a delivery is in flight waits for it, and the record keeps that attempt', async () => {
    hub.setBehaviour({ delayMs: 3_000, onData: () => '451 4.3.0 slow disk, try again later' });
    try {
      const info = await send({ port: sluice.port, from: SENDER, to: ['john@contoso.com'], raw: message({ from: SENDER, to: 'john@contoso.com', subject: 'golf' }) });
      const id = /queued as ([0-9A-F]+)/.exec(info.response)![1]!;
      await new Promise((r) => setTimeout(r, 300));
      const launchedAt = Date.now();
      const r = await queue('hold', id);
      assert.equal(r.code, 0, r.stderr);
      const deferred = await sluice.waitForLog((l) => l.msg === 'delivery deferred' && l.queueId === id);
      assert.ok(launchedAt < Date.parse(String(deferred.time)), 'the hold was asked for while the attempt was in flight');
      const shown = JSON.parse((await queue('show', id, '--json')).stdout) as { status: string; attempts: number; recipients: { lastError: string }[] };
      assert.equal(shown.status, 'hold');
      assert.equal(shown.attempts, 1, 'the attempt in flight was recorded, not overwritten');
      assert.match(shown.recipients[0]!.lastError, /451 4\.3\.0 slow disk/);
      assert.equal((await queue('delete', id)).code, 0);
    } finally {
      hub.setBehaviour({ delayMs: 0, onData: () => null });
    }
  });
});

describe('with the daemon stopped (offline mode)', () => {
  test('the socket goes with a clean stop; the tools then change the spool files directly', async () => {
    accepting = false;
    const id = await sendDeferred('foxtrot');
    await waitPersisted(id);
    await sluice.stop();
    assert.ok(!existsSync(path.join(sluice.dir, 'spool/control.sock')), 'control socket removed on stop');
    const list = await queue('list');
    assert.match(list.stdout, new RegExp(`^${id}\\b.* deferred +<`, 'm'));
    const r = await queue('hold', id);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /offline: no daemon running \(no .*control\.sock\)/);
    assert.match((await queue('list', '--status', 'hold')).stdout, new RegExp(`^${id}\\b`, 'm'));

    accepting = true;
    sluice = await sluice.restart();
    await new Promise((r) => setTimeout(r, 1_000));
    assert.ok(!subjectsAt(hub).includes('foxtrot'), 'held offline, still held after restart');
  });

  test('after a crash the stale socket is detected, and a release made offline delivers at the next start', async () => {
    await sluice.kill();
    assert.ok(existsSync(path.join(sluice.dir, 'spool/control.sock')), 'SIGKILL leaves the socket behind');
    const r = await queue('release', ids.foxtrot!);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /offline: no daemon running \(stale .*control\.sock\)/);
    sluice = await sluice.restart();
    await waitForSubject(hub, 'foxtrot');
    const live = await queue('retry', '--all');
    assert.match(live.stdout, /via the running daemon/, 'the restarted daemon answers on a fresh socket');
  });
});
