// Graceful drain under load: a stream of SMTP sessions is running when SIGTERM arrives. Clients
// that connect during the drain see 421 4.3.2; the daemon exits 0; after a restart the queue
// resumes. Nothing acknowledged with 250 is lost and nothing is delivered twice (counted at the
// smart host by Message-ID).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { runCli, startSluice, type SluiceProcess } from '../helpers/sluice.js';
import { RawSmtp } from '../helpers/raw-smtp.js';

const WORKERS = 4;
const MAX_SESSIONS_PER_WORKER = 150;
const STREAM_DEADLINE_MS = 30_000;
const ACKS_BEFORE_SIGTERM = 20;
const SETTLE_DEADLINE_MS = 40_000;

let sink: SmartHost;
let sluice: SluiceProcess;

before(async () => {
  // Slow DATA replies keep deliveries in flight when SIGTERM arrives.
  sink = await startSmartHost({ delayMs: 150 });
  sluice = await startSluice({
    certs: await makeCertSet(),
    patch: { outboundConnectors: [{ name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${sink.port}`] }] },
  });
});

after(async () => {
  await sluice?.stop();
  await sink?.close();
});

interface Tally {
  acked: Set<string>;
  drainReplies: string[];
  refusedConnects: number;
}

/** One session with one message; records what the client saw. Returns false once the port is closed. */
async function oneSession(port: number, id: string, t: Tally): Promise<boolean> {
  let c: RawSmtp;
  try {
    c = await RawSmtp.connect(port);
  } catch {
    t.refusedConnects++;
    return false;
  }
  try {
    const greeting = await c.reply(5_000);
    if (!greeting.startsWith('220')) {
      if (greeting.startsWith('421')) t.drainReplies.push(greeting);
      return true;
    }
    const steps = ['EHLO load.example', 'MAIL FROM:<sun@example.org>', `RCPT TO:<drain-${id}@contoso.com>`, 'DATA'];
    for (const step of steps) {
      const r = await c.cmd(step, 5_000);
      if (r.startsWith('421')) return t.drainReplies.push(r), true;
      if (!/^[23]/.test(r)) return true;
    }
    const done = await c.cmd(`Message-ID: <${id}@load.example>\r\nSubject: drain ${id}\r\n\r\nbody ${id}\r\n.`, 10_000);
    if (done.startsWith('250')) t.acked.add(id);
    else if (done.startsWith('421')) t.drainReplies.push(done);
    await c.cmd('QUIT', 2_000).catch(() => '');
    return true;
  } catch {
    return true; // cut mid-session: not acknowledged, so not counted
  } finally {
    c.close();
  }
}

const messageIds = (host: SmartHost): string[] =>
  host.messages.map((m) => /^Message-ID: <([^@>]+)@/im.exec(m.raw.toString('latin1'))?.[1] ?? '?');

async function queueEmpty(): Promise<boolean> {
  const r = await runCli(['queue', 'list', '--json', '--config', sluice.configPath], sluice.dir);
  return r.code === 0 && r.stdout.trim() === '';
}

test('SIGTERM during a stream of sessions: 421 4.3.2 during the drain, exit 0, nothing acknowledged lost or delivered twice', async (ctx) => {
  const port = sluice.port;
  const t: Tally = { acked: new Set(), drainReplies: [], refusedConnects: 0 };
  const deadline = Date.now() + STREAM_DEADLINE_MS;
  let sigterm: Promise<number | null> | null = null;
  const worker = async (w: number) => {
    for (let i = 0; i < MAX_SESSIONS_PER_WORKER && Date.now() < deadline; i++) {
      if (!sigterm && t.acked.size >= ACKS_BEFORE_SIGTERM) sigterm = sluice.stop();
      if (!(await oneSession(port, `w${w}-${i}`, t))) return;
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  assert.ok(sigterm, `SIGTERM was sent (acked ${t.acked.size})`);
  assert.equal(await sigterm, 0, 'exit 0 after the drain');
  assert.ok(t.drainReplies.length > 0, 'clients saw 421 during the drain');
  for (const r of t.drainReplies) assert.match(r, /^421 4\.3\.2 Service shutting down/);
  assert.ok(sluice.logs.some((l) => l.msg === 'stopped; spool kept'));

  // A restart resumes the queue; every acknowledged message arrives exactly once.
  sluice = await sluice.restart();
  const settleBy = Date.now() + SETTLE_DEADLINE_MS;
  while (Date.now() < settleBy && !([...t.acked].every((id) => messageIds(sink).includes(id)) && (await queueEmpty()))) {
    await sink.waitFor(sink.messages.length + 1, 500).catch(() => undefined);
  }
  const delivered = messageIds(sink);
  const missing = [...t.acked].filter((id) => !delivered.includes(id));
  assert.deepEqual(missing, [], 'every message acknowledged with 250 was delivered');
  const twice = delivered.filter((id, i) => delivered.indexOf(id) !== i);
  assert.deepEqual(twice, [], 'no message was delivered twice');
  ctx.diagnostic(`acked ${t.acked.size}, 421 replies ${t.drainReplies.length}, refused connects ${t.refusedConnects}, delivered ${delivered.length}`);
});
