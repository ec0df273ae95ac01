// The shared quarantine over real engines: two Sluice replicas (child processes, own spools)
// share one throw-away PostgreSQL and one recording smart host; a mail-flow rule quarantines
// mail whose subject says "holdme". A message held on replica A is listed, shown and released
// from replica B and arrives at the host exactly once; a second release answers E_ALREADY_RELEASED;
// two replicas releasing the same message at once deliver it once; mail quarantined while
// PostgreSQL is down stays in A's local quarantine and is copied up when the database returns.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { runCli, type SluiceProcess } from '../../helpers/sluice.js';
import { sendVia, startTwoReplicas, subjectOf, until, type TwoReplicas } from '../../helpers/cluster-replicas.js';

let cluster: TwoReplicas;
let a: SluiceProcess;
let b: SluiceProcess;

before(async () => {
  cluster = await startTwoReplicas({ transportRules: [{ name: 'Hold', subjectContainsWords: ['holdme'], quarantine: true }] });
  ({ a, b } = cluster);
});

after(async () => {
  await cluster?.stop();
});

const quarantine = (r: SluiceProcess, ...args: string[]) => runCli(['quarantine', ...args, '--config', r.configPath]);

interface Entry {
  id: string;
  subject: string | null;
  type: string;
}

async function listed(r: SluiceProcess): Promise<Entry[]> {
  const out = await quarantine(r, 'list', '--json');
  return out.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Entry);
}

const arrived = (subject: string) => cluster.host.messages.filter((m) => subjectOf(m.raw) === subject).length;
const heldLocally = (r: SluiceProcess) => {
  const dir = path.join(r.dir, 'spool', 'held');
  return existsSync(dir) ? readdirSync(dir).filter((f) => !f.startsWith('.')) : [];
};

/** Quarantines `subject` on A and waits until B lists it (copied up to PostgreSQL). */
async function heldOnA(subject: string): Promise<Entry> {
  assert.match((await sendVia(a, subject)).response, /^250 /);
  return until(`${subject} listed on B`, async () => (await listed(b)).find((e) => e.subject === subject) ?? null);
}

test('held on A, listed, shown and released from B: delivered once; a second release says already released', async () => {
  const e = await heldOnA('holdme first');
  assert.equal(e.type, 'TransportRule');
  await until('A\'s local quarantine empty', async () => (heldLocally(a).length === 0 ? true : null));
  const shown = await quarantine(b, 'show', e.id);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /Subject: holdme first/);
  const exported = await quarantine(b, 'export', e.id);
  assert.equal(exported.code, 0, exported.stderr);
  assert.match(exported.stdout, /^Subject: holdme first\r?$/m);
  const rel = await quarantine(b, 'release', e.id, '--json');
  assert.equal(rel.code, 0, rel.stdout + rel.stderr);
  assert.equal((JSON.parse(rel.stdout) as { mode: string }).mode, 'daemon');
  await until('the released message at the host', async () => (arrived('holdme first') >= 1 ? true : null));
  const again = await quarantine(a, 'release', e.id, '--json');
  assert.equal(again.code, 1);
  const answer = JSON.parse(again.stdout) as { ok: boolean; code: string; error: string };
  assert.equal(answer.code, 'E_ALREADY_RELEASED');
  assert.match(answer.error, /already released by node-b/);
  assert.equal((await listed(a)).some((x) => x.id === e.id), false);
  // B delivered it and nobody else may: the host's count after the refusal is still one.
  assert.equal(arrived('holdme first'), 1);
});

test('two replicas releasing the same message at once: one wins, the host gets it once', async () => {
  const e = await heldOnA('holdme race');
  const [ra, rb] = await Promise.all([quarantine(a, 'release', e.id, '--json'), quarantine(b, 'release', e.id, '--json')]);
  const codes = [ra, rb].map((r) => (JSON.parse(r.stdout) as { ok: boolean; code?: string }).code ?? 'ok').sort();
  assert.deepEqual(codes, ['E_ALREADY_RELEASED', 'ok']);
  await until('the raced message at the host', async () => (arrived('holdme race') >= 1 ? true : null));
  assert.equal(arrived('holdme race'), 1);
});

test('held on A, deleted from B: gone from every replica\'s list, never delivered', async () => {
  const e = await heldOnA('holdme delete');
  const del = await quarantine(b, 'delete', e.id);
  assert.equal(del.code, 0, del.stderr);
  assert.equal((await listed(a)).some((x) => x.id === e.id), false);
  const rel = await quarantine(a, 'release', e.id);
  assert.equal(rel.code, 1);
  assert.match(rel.stderr, /no message/);
  assert.equal(arrived('holdme delete'), 0);
});

test('quarantined while PostgreSQL is down: kept in A\'s spool, copied up when it returns, then released from B', async () => {
  await cluster.postgres.stop();
  try {
    assert.match((await sendVia(a, 'holdme outage')).response, /^250 /);
    await until('held locally on A', async () => (heldLocally(a).length > 0 ? true : null));
    const local = await quarantine(a, 'list', '--json');
    assert.equal(local.code, 1, 'the list says the shared part is unreachable');
    assert.ok(local.stdout.includes('holdme outage'), 'the local held message is still listed');
  } finally {
    await cluster.postgres.start();
  }
  const e = await until('the outage message listed on B', async () => (await listed(b)).find((x) => x.subject === 'holdme outage') ?? null, 20_000);
  assert.deepEqual(heldLocally(a), []);
  const rel = await quarantine(b, 'release', e.id);
  assert.equal(rel.code, 0, rel.stderr);
  await until('the outage message at the host', async () => (arrived('holdme outage') >= 1 ? true : null));
  assert.equal(arrived('holdme outage'), 1);
});
