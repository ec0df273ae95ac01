// Outbound sessions run on the delivery thread (delivery/remote-session.ts): what crosses between
// the threads, against a real smart host over TCP. The body is streamed across with a window, a
// body that fails half-way never becomes a message at the host, and a delivery thread that dies
// ends its sessions as dropped connections (deferrals) while the next message starts a new one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Pools, type PoolSpec, type PoolTarget } from '../../src/delivery/pools.js';
import { deliveryThread } from '../../src/delivery/remote-session.js';
import type { SmtpError } from '../../src/delivery/connection.js';
import { outbound } from '../helpers/model-builder.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';

let host: SmartHost;
let slow: SmartHost;
let pools: Pools;

const spec = (name: string): PoolSpec => ({ key: name, connector: outbound({ name, smartHosts: ['127.0.0.1'], tlsSettings: null, maxConnections: 2 }), maxConnections: 2 });
const target = (h: SmartHost): PoolTarget => ({ host: '127.0.0.1', port: h.port, name: '127.0.0.1' });
const envelope = { from: 'sender@contoso.com', to: ['rcpt@fabrikam.test'] };
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function message(bodyBytes: number): Buffer {
  const line = 'x'.repeat(76) + '\r\n';
  return Buffer.from(`Subject: thread test\r\nFrom: sender@contoso.com\r\n\r\n${line.repeat(Math.ceil(bodyBytes / line.length))}`);
}

/** The message in 64 KB chunks, one per read, as the spool's file stream gives them. */
function chunked(buf: Buffer, failAfter?: number): Readable {
  let at = 0;
  return new Readable({
    read() {
      if (failAfter !== undefined && at >= failAfter) return this.destroy(Object.assign(new Error('spool read failed'), { code: 'EIO' }));
      if (at >= buf.length) return this.push(null);
      this.push(buf.subarray(at, at + 65_536));
      at += 65_536;
    },
  });
}

before(async () => {
  host = await startSmartHost();
  slow = await startSmartHost({ delayMs: 2_000 });
  pools = new Pools(() => 'gateway.contoso.test');
});

after(async () => {
  pools.abortAll();
  await host.close();
  await slow.close();
});

test('sessions are opened on the delivery thread and the host gets the message byte for byte', async () => {
  const before = deliveryThread().opened;
  const msg = message(10_000);
  const info = await pools.send(spec('small'), target(host), envelope, () => chunked(msg));
  assert.deepEqual(info.accepted, envelope.to);
  assert.match(info.response, /^250/);
  assert.ok(deliveryThread().opened > before, 'the session was opened by the delivery thread');
  assert.notEqual(deliveryThread().threadId, null);
  const got = await host.waitFor(1);
  assert.equal(sha(got[0]!.raw), sha(msg));
});

test('a 6 MB message crosses in windowed chunks and arrives whole', async () => {
  const msg = message(6 * 1024 * 1024);
  const n = host.messages.length;
  await pools.send(spec('big'), target(host), envelope, () => chunked(msg));
  const got = await host.waitFor(n + 1);
  const raw = got[n]!.raw;
  assert.equal(raw.length, msg.length, 'every byte arrived');
  assert.equal(sha(raw), sha(msg));
});

test('a message over 1 MB is carried by a session on the main thread (its memory would linger on the delivery thread)', async () => {
  const msg = message(3 * 1024 * 1024);
  const opened = deliveryThread().opened;
  const n = host.messages.length;
  await pools.send(spec('large'), target(host), envelope, () => chunked(msg), msg.length);
  const got = await host.waitFor(n + 1);
  assert.equal(sha(got[n]!.raw), sha(msg));
  assert.equal(deliveryThread().opened, opened, 'no session was opened on the delivery thread for it');
  // A small message right after it may use that same connection; a large one never takes a delivery-thread session.
  await pools.send(spec('large'), target(host), envelope, () => chunked(message(1_000)), 1_000);
  await host.waitFor(n + 2);
});

test('a body that fails half-way fails the transaction and never arrives truncated', async () => {
  const msg = message(2 * 1024 * 1024);
  const n = host.messages.length;
  await assert.rejects(pools.send(spec('broken'), target(host), envelope, () => chunked(msg, 1024 * 1024)));
  // A control message on the same pool goes through, so the host had its chance to store the first one.
  await pools.send(spec('broken'), target(host), envelope, () => chunked(message(1_000)));
  const got = await host.waitFor(n + 1);
  assert.equal(got.length, n + 1, 'only the control message arrived');
  assert.ok(got[n]!.raw.length < 2_000);
});

test('a delivery thread that dies defers what it carried; the next message starts a new thread', async () => {
  const first = deliveryThread().threadId;
  const inFlight = pools.send(spec('crash'), target(slow), envelope, () => chunked(message(1_000)));
  // The host holds DATA for 2 s: wait until it has the session, then end the thread under it.
  const deadline = Date.now() + 5_000;
  while (!slow.connections.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(slow.connections.length, 'the slow host saw the connection');
  await deliveryThread().terminate();
  const err = (await inFlight.then(
    () => assert.fail('the send must fail with its thread'),
    (e: SmtpError) => e,
  )) as SmtpError;
  assert.equal(err.code, 'ECONNECTION');
  assert.equal(err.responseCode, undefined, 'no reply code: a dropped connection, which the queue defers');
  const n = host.messages.length;
  await pools.send(spec('after-crash'), target(host), envelope, () => chunked(message(1_000)));
  await host.waitFor(n + 1);
  assert.notEqual(deliveryThread().threadId, null);
  assert.notEqual(deliveryThread().threadId, first, 'a new thread');
});
