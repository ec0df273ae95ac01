// Pools, limits and smart-host failover over real sockets. The smart hosts count what they saw:
// concurrent connections (also summed across the hosts of one connector), messages per connection,
// connections to a host that should be skipped. Load: many messages with many recipients each.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { peakConcurrency } from '../helpers/concurrency.js';
import { startSluice, type SluiceProcess } from '../helpers/sluice.js';
import { freePort } from '../helpers/ports.js';
import { message, send } from '../helpers/clients.js';

const MESSAGES = 120;
const PAIR_MESSAGES = 60;
const SEND_CONCURRENCY = 6;
const MAX_CONNECTIONS = 3;
const MAX_MESSAGES_PER_CONNECTION = 5;

let certs: CertSet;
let sluice: SluiceProcess;
let single: SmartHost;
let pairA: SmartHost;
let pairB: SmartHost;
let busy: SmartHost;
let good: SmartHost;
let rrA: SmartHost;
let rrB: SmartHost;
let deadPort: number;

const limits = { maxConnections: MAX_CONNECTIONS, maxMessagesPerConnection: MAX_MESSAGES_PER_CONNECTION };

before(async () => {
  certs = await makeCertSet();
  single = await startSmartHost({ delayMs: 20 });
  pairA = await startSmartHost({ delayMs: 20 });
  pairB = await startSmartHost({ delayMs: 20 });
  busy = await startSmartHost({ onConnect: () => '421 4.3.2 Service not available' });
  good = await startSmartHost();
  rrA = await startSmartHost();
  rrB = await startSmartHost();
  deadPort = await freePort(); // nothing listens here: connection refused
  sluice = await startSluice({
    certs,
    patch: {
      inboundConnectors: [{ name: 'On-prem IP', connectorType: 'OnPremises', senderDomains: ['*'], senderIPAddresses: ['127.0.0.2'] }],
      outboundConnectors: [
        { name: 'Single', recipientDomains: ['single.test', '*.single.test'], smartHosts: [`127.0.0.1:${single.port}`], ...limits },
        { name: 'Pair', recipientDomains: ['pair.test'], smartHosts: [`127.0.0.1:${pairA.port}`, `127.0.0.1:${pairB.port}`], ...limits },
        {
          name: 'Failover',
          recipientDomains: ['failover.test'],
          smartHosts: [`127.0.0.1:${deadPort}`, `127.0.0.1:${busy.port}`, `127.0.0.1:${good.port}`],
        },
        { name: 'Round robin', recipientDomains: ['rr.test'], smartHosts: [`127.0.0.1:${rrA.port}`, `127.0.0.1:${rrB.port}`] },
      ],
    },
  });
});

after(async () => {
  await sluice?.stop();
  await Promise.all([single, pairA, pairB, busy, good, rrA, rrB].map((h) => h?.close()));
});

/** Submits `count` messages, SEND_CONCURRENCY at a time; message i goes to rcpts(i). */
async function submit(count: number, rcpts: (i: number) => string[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const to = rcpts(i);
      const raw = message({ from: 'john@contoso.com', to: to[0]!, subject: `load ${i}` });
      await send({ port: sluice.port, localAddress: '127.0.0.2', from: 'john@contoso.com', to, raw });
    }
  };
  await Promise.all(Array.from({ length: SEND_CONCURRENCY }, worker));
}

const subjects = (h: SmartHost) => h.messages.map((m) => /Subject: (.*)\r\n/.exec(m.raw.toString('latin1'))?.[1]);

describe('pools and limits', () => {
  test(`${MESSAGES} messages with many recipients use at most ${MAX_CONNECTIONS} connections, ${MAX_MESSAGES_PER_CONNECTION} messages each`, async (t) => {
    const started = Date.now();
    const rcpts = (i: number) => [`a${i}@single.test`, `b${i}@single.test`, `c${i}@x.single.test`, `d${i}@y.single.test`];
    await submit(MESSAGES, rcpts);
    const got = await single.waitFor(MESSAGES, 40_000);
    assert.equal(got.length, MESSAGES, 'no duplicates');
    assert.deepEqual(new Set(subjects(single)).size, MESSAGES, 'every message once');
    for (const m of got) assert.equal(m.rcptTo.length, 4, 'all recipients in one transaction');
    assert.ok(single.maxConcurrentConnections <= MAX_CONNECTIONS, `peak ${single.maxConcurrentConnections}`);
    assert.ok(single.maxConcurrentConnections >= 2, 'the pool did run connections in parallel');
    const perConnection = single.connections.map((c) => c.messages);
    assert.ok(Math.max(...perConnection) <= MAX_MESSAGES_PER_CONNECTION, `per connection: ${perConnection.join(',')}`);
    assert.ok(single.connections.length >= MESSAGES / MAX_MESSAGES_PER_CONNECTION, `${single.connections.length} connections`);
    t.diagnostic(
      `${MESSAGES} messages x 4 rcpts in ${Date.now() - started} ms: ${single.connections.length} connections, ` +
        `peak ${single.maxConcurrentConnections} concurrent, max ${Math.max(...perConnection)} messages/connection`,
    );
  });

  test('the connection cap holds across all smart hosts of one connector, not per host', async (t) => {
    await submit(PAIR_MESSAGES, (i) => [`a${i}@pair.test`, `b${i}@pair.test`]);
    const deadline = Date.now() + 30_000;
    while (pairA.messages.length + pairB.messages.length < PAIR_MESSAGES && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(pairA.messages.length + pairB.messages.length, PAIR_MESSAGES);
    assert.ok(pairA.messages.length > 0 && pairB.messages.length > 0, `spread ${pairA.messages.length}/${pairB.messages.length}`);
    const peak = peakConcurrency([...pairA.connections, ...pairB.connections]);
    assert.ok(peak <= MAX_CONNECTIONS, `peak across both hosts ${peak}`);
    const perConnection = [...pairA.connections, ...pairB.connections].map((c) => c.messages);
    assert.ok(Math.max(...perConnection) <= MAX_MESSAGES_PER_CONNECTION, `per connection: ${perConnection.join(',')}`);
    t.diagnostic(`pair: ${pairA.messages.length}/${pairB.messages.length} messages, ${perConnection.length} connections, peak ${peak} across both`);
  });
});

describe('several smart hosts', () => {
  test('a refused connection and a 421 greeting fail over to the next host and mark both down', async () => {
    await submit(1, () => ['first@failover.test']);
    await good.waitFor(1);
    const down = await sluice.waitForLog((l) => l.msg === 'host marked down' && l.host === `127.0.0.1:${busy.port}`);
    assert.equal(down.downForMs, 60_000);
    assert.match(String(down.reason), /^421 4\.3\.2/);
    await sluice.waitForLog((l) => l.msg === 'host marked down' && l.host === `127.0.0.1:${deadPort}`);
  });

  test('hosts marked down are skipped while down', async () => {
    const busyConnections = busy.connections.length;
    await submit(4, (i) => [`next${i}@failover.test`]);
    await good.waitFor(5);
    assert.equal(busy.connections.length, busyConnections, 'no new connection to the host that answered 421');
  });

  test('smart hosts that are all up share the load round-robin', async () => {
    for (let i = 0; i < 6; i++) {
      await submit(1, () => [`rr${i}@rr.test`]);
      const deadline = Date.now() + 10_000;
      while (rrA.messages.length + rrB.messages.length < i + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(rrA.messages.length + rrB.messages.length, 6);
    assert.equal(rrA.messages.length, 3, `A got ${rrA.messages.length}, B got ${rrB.messages.length}`);
  });
});
