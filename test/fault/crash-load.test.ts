// Crash safety under load: 2,000 numbered messages from 10 concurrent senders (raw sessions and
// nodemailer pools) while smart hosts answer 421/451/450 at random, and the daemon is SIGKILLed
// 3–5 times at random moments and restarted. Every message the sender saw 250 for must reach a
// smart host at least once; duplicates are counted and reported, unacknowledged ones may arrive.
// The battery runs twice: with a file per message, and with spool.journal (fresh messages in one
// group-committed log, replayed at each restart).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { startSluice, testConfig, type SluiceProcess, type LogLine } from '../helpers/sluice.js';
import { deliveredCounts, runLoad, type Ledger } from '../helpers/load.js';

const MESSAGES = 2_000;
const RAW_WORKERS = 6;
const NODEMAILER_WORKERS = 4;
const SEND_BUDGET_MS = 45_000;
const DRAIN_BUDGET_MS = 35_000;
const KILLS_MIN = 3;
const KILLS_MAX = 5;
const KILL_GAP_MIN_MS = 700;
const KILL_GAP_MAX_MS = 2_500;

let certs: CertSet;
let flaky: SmartHost;
let steady: SmartHost;
let partner: SmartHost;
let sluice: SluiceProcess | undefined;
const allLogs: LogLine[][] = [];
let journal = false;

const chance = (p: number) => Math.random() < p;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  certs = await makeCertSet();
});

async function startHosts(): Promise<void> {
  // On-prem connector: the first smart host refuses 15 % of connections (421, so the next host
  // is tried) and defers 10 % of messages at DATA (451, retried later); the second is steady.
  flaky = await startSmartHost({
    onConnect: () => (chance(0.15) ? '421 4.3.2 Service not available, closing channel' : null),
    onData: () => (chance(0.1) ? '451 4.3.0 Temporary local problem, try later' : null),
    delayMs: 3,
  });
  steady = await startSmartHost({ delayMs: 3 });
  // Partner connector: one host that defers 10 % of recipients with 450.
  partner = await startSmartHost({ onRcpt: () => (chance(0.1) ? '450 4.2.1 Mailbox busy, try later' : null), delayMs: 3 });
}

async function stopAll(): Promise<void> {
  await sluice?.kill();
  sluice = undefined;
  await Promise.all([flaky?.close(), steady?.close(), partner?.close()]);
  allLogs.length = 0;
}

after(stopAll);

async function startDaemon(): Promise<SluiceProcess> {
  const patch = {
    acceptedDomains: [
      { domain: 'contoso.com', type: 'Authoritative' },
      { domain: 'fabrikam.com', type: 'Authoritative' },
    ],
    delivery: { mxPort: 25, retry: { initial: '1s', max: '2s', lifetime: '1h' } },
    outboundConnectors: [
      { name: 'To fabrikam', connectorType: 'Partner', recipientDomains: ['fabrikam.com'], smartHosts: [`127.0.0.1:${partner.port}`] },
      {
        name: 'To on-prem',
        connectorType: 'OnPremises',
        allAcceptedDomains: true,
        smartHosts: [`127.0.0.1:${flaky.port}`, `127.0.0.1:${steady.port}`],
      },
    ],
  };
  const p = await startSluice({
    certs,
    config: (port, dir) => {
      const c = testConfig({ port, dir, certs, patch });
      return { ...c, spool: { ...(c['spool'] as object), journal } };
    },
  });
  allLogs.push(p.logs);
  return p;
}

/** Kills and restarts the daemon at random moments while `busy()` holds, at least KILLS_MIN times. */
async function killer(busy: () => boolean): Promise<number> {
  const target = KILLS_MIN + Math.floor(Math.random() * (KILLS_MAX - KILLS_MIN + 1));
  let kills = 0;
  while (kills < target && (busy() || kills < KILLS_MIN)) {
    await sleep(KILL_GAP_MIN_MS + Math.random() * (KILL_GAP_MAX_MS - KILL_GAP_MIN_MS));
    await sluice!.kill();
    kills++;
    sluice = await sluice!.restart();
    allLogs.push(sluice.logs);
  }
  return kills;
}

async function drain(ledger: Ledger): Promise<Map<number, number>> {
  const deadline = Date.now() + DRAIN_BUDGET_MS;
  for (;;) {
    const counts = deliveredCounts([flaky, steady, partner]);
    const missing = [...ledger.acked].filter((s) => !counts.has(s));
    if (missing.length === 0 || Date.now() > deadline) return counts;
    await sleep(250);
  }
}

async function battery(): Promise<void> {
  await startHosts();
  sluice = await startDaemon();
  let sending = true;
  const started = Date.now();
  const load = runLoad({
    port: sluice.port,
    count: MESSAGES,
    rawWorkers: RAW_WORKERS,
    nodemailerWorkers: NODEMAILER_WORKERS,
    deadline: started + SEND_BUDGET_MS,
    envelope: (seq) => ({ from: `sender${seq % 7}@example.org`, to: seq % 3 === 0 ? 'mary@fabrikam.com' : 'john@contoso.com' }),
  }).finally(() => (sending = false));
  const [ledger, kills] = await Promise.all([load, killer(() => sending)]);
  const sentMs = Date.now() - started;
  const counts = await drain(ledger);

  const lost = [...ledger.acked].filter((s) => !counts.has(s)).sort((a, b) => a - b);
  const delivered = [...counts.keys()];
  const duplicated = delivered.filter((s) => counts.get(s)! > 1);
  const extraCopies = duplicated.reduce((n, s) => n + counts.get(s)! - 1, 0);
  const unackedDelivered = [...ledger.unacked].filter((s) => counts.has(s));
  const logs = allLogs.flat();
  const corrupt = logs.filter((l) => l.code === 'E_SPOOL_CORRUPT');
  // What went to corrupt/, by kind: .msg.tmp (a session cut short before its 250), .state.tmp, …
  const movedAside: Record<string, number> = {};
  for (const l of corrupt) {
    const kind = String(l.file).replace(/^[^.]*/, '');
    movedAside[kind] = (movedAside[kind] ?? 0) + 1;
  }
  const recovered = logs.filter((l) => l.msg === 'spool recovered').map((l) => Number(l.recovered));
  const figures = {
    attempted: ledger.acked.size + ledger.unacked.size,
    acknowledged: ledger.acked.size,
    notAcknowledged: ledger.unacked.size,
    delivered: delivered.length,
    deliveredCopies: [...counts.values()].reduce((a, b) => a + b, 0),
    duplicated: duplicated.length,
    duplicateRatePct: Number(((100 * duplicated.length) / Math.max(1, ledger.acked.size)).toFixed(2)),
    notAcknowledgedButDelivered: unackedDelivered.length,
    lost: lost.length,
    kills,
    recoveredPerRestart: recovered.slice(1),
    ...(journal ? { journalRestoredPerRestart: logs.filter((l) => l.msg === 'replayed a journal segment').map((l) => Number(l.restored)) } : {}),
    movedToCorrupt: corrupt.length,
    movedToCorruptByKind: movedAside,
    refusedAtSmartHosts: flaky.rejected.length + steady.rejected.length + partner.rejected.length,
    sendSeconds: Number((sentMs / 1000).toFixed(1)),
    totalSeconds: Number(((Date.now() - started) / 1000).toFixed(1)),
  };
  console.log(`crash-load figures${journal ? ' (spool.journal)' : ''}: ${JSON.stringify(figures)}`);
  console.log(`crash-load not-acknowledged reasons${journal ? ' (spool.journal)' : ''}: ${JSON.stringify(Object.fromEntries(ledger.reasons))}`);

  assert.ok(kills >= KILLS_MIN, `killed ${kills} times`);
  assert.ok(ledger.acked.size >= MESSAGES / 2, `at least half the load acknowledged (${ledger.acked.size})`);
  assert.deepEqual(lost, [], `acknowledged but never delivered: ${lost.slice(0, 20).join(', ')}`);
  if (journal) assert.ok(figures.journalRestoredPerRestart!.some((n) => n > 0), 'some acknowledged mail was still in the journal at a SIGKILL and came back from it');
  for (const s of delivered) assert.ok(ledger.acked.has(s) || ledger.unacked.has(s), `delivered ${s} was sent`);
  assert.ok(sluice.proc.exitCode === null, 'the last daemon is still running');
  assert.equal(await sluice.stop(), 0, 'SIGTERM after the load stops cleanly');
  sluice = undefined;
  await stopAll();
}

test('every message acknowledged under load survives 3–5 SIGKILLs and reaches a smart host (duplicates counted)', { timeout: 120_000 }, async () => {
  journal = false;
  await battery();
});

test('spool.journal: every message acknowledged under load survives 3–5 SIGKILLs and reaches a smart host (duplicates counted)', { timeout: 120_000 }, async () => {
  journal = true;
  await battery();
});
