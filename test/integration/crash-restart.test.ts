// "250 means on disk", proven with a real crash: messages are acknowledged while the smart host
// is down, the daemon is killed with SIGKILL (no cleanup), restarted, and every acknowledged
// message must reach the smart host once it is up. Also: SIGTERM stops gracefully with exit 0.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { startSluice, type SluiceProcess } from '../helpers/sluice.js';
import { freePort } from '../helpers/ports.js';
import { message, send } from '../helpers/clients.js';

const MESSAGES = 30;
let certs: CertSet;
let sinkPort: number;
let sluice: SluiceProcess | undefined;
let sink: SmartHost | undefined;

before(async () => {
  certs = await makeCertSet();
  sinkPort = await freePort();
});

after(async () => {
  await sluice?.kill();
  await sink?.close();
});

test('every message acknowledged before a SIGKILL is delivered after the restart', async () => {
  sluice = await startSluice({
    certs,
    patch: {
      delivery: { retry: { initial: '1s', max: '1s', lifetime: '1h' } },
      outboundConnectors: [{ name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${sinkPort}`] }],
    },
  });
  const ids: string[] = [];
  for (let i = 0; i < MESSAGES; i++) {
    const raw = message({ from: 'sun@example.org', to: 'john@contoso.com', subject: `crash ${i}`, body: `body ${i}\r\n` });
    const info = await send({ port: sluice.port, from: 'sun@example.org', to: ['john@contoso.com'], raw });
    const id = /queued as ([0-9A-F]+)/.exec(info.response)?.[1];
    assert.ok(id, info.response);
    ids.push(id);
  }
  // The smart host is down, so every message is still in the spool when the daemon dies.
  await sluice.kill();
  sink = await startSmartHost({ port: sinkPort });
  sluice = await sluice.restart();
  const recovered = await sluice.waitForLog((l) => l.msg === 'spool recovered');
  assert.equal(recovered.recovered, MESSAGES);
  const got = await sink.waitFor(MESSAGES, 30_000);
  const subjects = got.map((m) => /Subject: (crash \d+)/.exec(m.raw.toString('latin1'))?.[1]).sort();
  const expected = Array.from({ length: MESSAGES }, (_, i) => `crash ${i}`).sort();
  assert.deepEqual(subjects, expected, 'each acknowledged message exactly once');
  for (const id of ids) assert.ok(got.some((m) => m.raw.toString('latin1').includes(` id ${id}`)), `queue id ${id} delivered`);
  await sluice.waitForLog((l) => l.msg === 'message done' && l.queueId === ids[ids.length - 1]);
});

test('SIGTERM stops the daemon gracefully with exit code 0 and keeps the spool', async () => {
  assert.ok(sluice);
  const code = await sluice.stop();
  assert.equal(code, 0);
  assert.ok(sluice.logs.some((l) => l.msg === 'stopped; spool kept'));
});
