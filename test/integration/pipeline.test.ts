// The protection pipeline in a real daemon over real SMTP: test filters (injected through the
// daemon's test-only filterFactories hook) time out, fail, reject, drop and edit headers, and the
// assertions are on the replies the client got and what the smart host actually received.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { message, send } from '../helpers/clients.js';
import { startInProcess, type InProcessSluice } from '../helpers/daemon-inproc.js';
import { runCli } from '../helpers/sluice.js';
import type { Filter, FilterVerdict } from '../../src/filters/contract.js';

type Mode = 'accept' | 'slow' | 'throw' | 'reject' | 'delete' | 'edit' | 'quarantine' | 'quarantine-one';
const state: { mode: Mode; calls: number; clockOffsetMs: number } = { mode: 'accept', calls: 0, clockOffsetMs: 0 };
const DAY_MS = 86_400_000;

const testFilter: Filter = {
  name: 'test-scanner',
  stage: 'malware',
  onError: 'Tempfail',
  async content(ctx): Promise<FilterVerdict> {
    state.calls++;
    switch (state.mode) {
      case 'slow':
        // Ignores the signal on purpose: the runner's race must still end the wait.
        await new Promise((r) => setTimeout(r, 4_000));
        return { action: { kind: 'accept' }, reason: 'late' };
      case 'throw':
        throw new Error('engine at 10.0.0.9:3310 is down');
      case 'reject':
        return { action: { kind: 'reject', code: 550, enhanced: '5.7.1', text: 'Message rejected as high-risk' }, reason: 'test reject' };
      case 'quarantine':
        return { action: { kind: 'quarantine', type: 'Malware', reason: 'Eicar-Test-Signature' }, reason: 'found Eicar-Test-Signature' };
      case 'quarantine-one':
        return { action: { kind: 'quarantine', type: 'TransportRule', reason: 'held for legal' }, recipients: ['legal@contoso.com'], reason: 'rule: legal hold' };
      case 'delete':
        return { action: { kind: 'delete', reason: 'test delete' }, reason: 'test delete' };
      case 'edit': {
        const subject = ctx.message.headers.find((h) => h.name.toLowerCase() === 'subject')?.value ?? '';
        return {
          action: { kind: 'accept' },
          reason: 'edited',
          headerEdits: [
            { op: 'remove', name: 'X-Remove-Me' },
            { op: 'add', name: 'X-Scanned', value: `yes; subject=${subject}` },
          ],
        };
      }
      default:
        return { action: { kind: 'accept' }, reason: 'clean' };
    }
  },
};

let certs: CertSet;
let host: SmartHost;
let sluice: InProcessSluice;

before(async () => {
  certs = await makeCertSet();
  host = await startSmartHost();
  sluice = await startInProcess({
    certs,
    filterFactories: [() => [testFilter]],
    daemon: { quarantineClock: () => Date.now() + state.clockOffsetMs, quarantineSweepMs: 100 },
    patch: {
      filters: { timeout: '1s' },
      outboundConnectors: [{ name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${host.port}`] }],
    },
  });
});

after(async () => {
  await sluice?.stop();
  await host?.close();
});

beforeEach(() => {
  state.mode = 'accept';
  state.calls = 0;
});

const sendOne = (subject: string, extra = '') =>
  send({ port: sluice.port, from: 'sender@fabrikam.com', to: ['user@contoso.com'], raw: extra + message({ from: 'sender@fabrikam.com', to: 'user@contoso.com', subject }), ignoreTLS: true });

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return String((err as { response?: string }).response ?? (err as Error).message);
  }
  throw new Error('the message was accepted');
}

const queueFiles = () => readdirSync(path.join(sluice.dir, 'spool', 'queue'));
const subjects = () => host.messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString('latin1'))?.[1]);

/** Sends a plain message and waits for it: everything sent before it has had its chance to arrive. */
async function barrier(name: string): Promise<void> {
  const before = host.messages.length;
  await sendOne(name);
  await host.waitFor(before + 1);
}

describe('protection pipeline over SMTP', () => {
  test('a filter past filters.timeout gives 451 4.7.500 naming its stage; nothing is delivered or kept, and the retry is accepted once', async () => {
    state.mode = 'slow';
    const before = host.messages.length;
    const t0 = Date.now();
    const reply = await refusal(sendOne('slow one'));
    assert.match(reply, /^451 4\.7\.500 Message could not be scanned \(malware\), try again later/);
    assert.ok(Date.now() - t0 < 3_500, 'the budget (1s) ended the wait, not the filter');
    assert.doesNotMatch(reply, /10\.0\.0|test-scanner/);
    assert.deepEqual(queueFiles().filter((f) => !f.endsWith('.tmp')), []);
    state.mode = 'accept';
    await sendOne('slow one');
    await host.waitFor(before + 1);
    await barrier('after slow');
    assert.equal(subjects().filter((s) => s === 'slow one').length, 1, 'delivered exactly once');
  });

  test('a filter that throws fails closed with 4xx and no internal address in the reply', async () => {
    state.mode = 'throw';
    const reply = await refusal(sendOne('throws'));
    assert.match(reply, /^451 4\.7\.500 Message could not be scanned \(malware\)/);
    assert.doesNotMatch(reply, /10\.0\.0\.9/);
    state.mode = 'accept';
    await barrier('after throw');
    assert.ok(!subjects().includes('throws'));
  });

  test('a reject verdict is the reply to DATA and nothing is delivered', async () => {
    state.mode = 'reject';
    const reply = await refusal(sendOne('rejected'));
    assert.match(reply, /^550 5\.7\.1 Message rejected as high-risk/);
    state.mode = 'accept';
    await barrier('after reject');
    assert.ok(!subjects().includes('rejected'));
  });

  test('a delete verdict answers 250 and delivers nothing (DROP logged)', async () => {
    state.mode = 'delete';
    const r = await sendOne('dropped');
    assert.match(r.response, /^250 /);
    await sluice.waitForLog((l) => l.msg === 'message dropped' && l.reason === 'test delete');
    state.mode = 'accept';
    await barrier('after delete');
    assert.ok(!subjects().includes('dropped'));
  });

  test('header edits: an added field is in front, a removed received field is gone, the rest is byte-identical', async () => {
    state.mode = 'edit';
    const before = host.messages.length;
    const body = 'Line one\r\nLine two\r\n';
    const raw = `X-Remove-Me: secret\r\n` + message({ from: 'sender@fabrikam.com', to: 'user@contoso.com', subject: 'edited', body });
    await send({ port: sluice.port, from: 'sender@fabrikam.com', to: ['user@contoso.com'], raw, ignoreTLS: true });
    const [got] = (await host.waitFor(before + 1)).slice(before);
    const text = got!.raw.toString('latin1');
    assert.match(text, /^X-Scanned: yes; subject=edited\r\nReceived: /);
    assert.doesNotMatch(text, /X-Remove-Me/);
    assert.ok(text.endsWith(raw.slice('X-Remove-Me: secret\r\n'.length).replace(/\r\n$/, '')) || text.includes(raw.slice('X-Remove-Me: secret\r\n'.length)));
  });
});

interface Held {
  id: string;
  type: string;
  reason: string;
  sender: string;
  recipients: string[];
  receivedAt: string;
}

async function held(...args: string[]): Promise<Held[]> {
  const r = await runCli(['quarantine', 'list', '--json', '--config', sluice.configPath, ...args]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Held);
}

const quarantineCli = (...args: string[]) => runCli(['quarantine', ...args, '--config', sluice.configPath]);

describe('quarantine over SMTP and the quarantine tools', () => {
  test('a quarantined message is listed, exported as received, released and delivered exactly once', async () => {
    state.mode = 'quarantine';
    const raw = message({ from: 'sender@fabrikam.com', to: 'user@contoso.com', subject: 'held one' });
    const r = await send({ port: sluice.port, from: 'sender@fabrikam.com', to: ['user@contoso.com'], raw, ignoreTLS: true });
    assert.match(r.response, /^250 /);
    const id = /queued as (\w+)/.exec(r.response)![1]!;
    const [item, ...others] = await held('--type', 'Malware');
    assert.equal(others.length, 0);
    assert.equal(item!.id, id);
    assert.deepEqual([item!.type, item!.reason, item!.sender, item!.recipients], ['Malware', 'Eicar-Test-Signature', 'sender@fabrikam.com', ['user@contoso.com']]);
    assert.ok(Math.abs(Date.parse(item!.receivedAt) - Date.now()) < 60_000);
    assert.deepEqual(await held('--type', 'Spam'), []);
    assert.deepEqual(await held('--sender', 'nobody@fabrikam.com'), []);
    assert.equal((await held('--recipient', 'user@contoso.com', '--since', '1h')).length, 1);

    const exported = await quarantineCli('export', id);
    assert.equal(exported.code, 0, exported.stderr);
    assert.equal(exported.stdout, raw.endsWith('\r\n') ? raw : raw + '\r\n', 'export prints the bytes as received');
    const shown = await quarantineCli('show', id);
    assert.match(shown.stdout, /test-scanner \(malware\): quarantine: found Eicar-Test-Signature/);
    assert.match(shown.stdout, /Subject: held one/);

    state.mode = 'accept';
    const before = host.messages.length;
    const rel = await quarantineCli('release', id);
    assert.equal(rel.code, 0, rel.stderr);
    assert.match(rel.stdout, /released \w+ to user@contoso.com \[via the running daemon\]/);
    await host.waitFor(before + 1);
    const again = await quarantineCli('release', id);
    assert.equal(again.code, 1, 'a second release finds nothing');
    await barrier('after release');
    assert.equal(subjects().filter((s) => s === 'held one').length, 1, 'delivered exactly once');
    assert.equal(state.calls, 2, 'the release did not run the filter again (only the barrier did)');
    assert.deepEqual(await held(), []);
  });

  test('an action on one recipient splits the message: the others are delivered, that one is held', async () => {
    state.mode = 'quarantine-one';
    const before = host.messages.length;
    const raw = message({ from: 'sender@fabrikam.com', to: 'user@contoso.com', subject: 'split one' });
    await send({ port: sluice.port, from: 'sender@fabrikam.com', to: ['user@contoso.com', 'legal@contoso.com'], raw, ignoreTLS: true });
    const [got] = (await host.waitFor(before + 1)).slice(before);
    assert.deepEqual(got!.rcptTo, ['user@contoso.com']);
    const [item] = await held();
    assert.deepEqual(item!.recipients, ['legal@contoso.com']);
    assert.equal(item!.type, 'TransportRule');
    const del = await quarantineCli('delete', item!.id);
    assert.equal(del.code, 0, del.stderr);
    assert.deepEqual(await held(), []);
  });

  test('a held message is deleted when quarantine.retention has passed, with a log line', async () => {
    state.mode = 'quarantine';
    const r = await sendOne('expiring');
    const id = /queued as (\w+)/.exec(r.response)![1]!;
    assert.equal((await held()).length, 1);
    state.clockOffsetMs = 16 * DAY_MS;
    try {
      await sluice.waitForLog((l) => l.msg === 'quarantined message expired and deleted' && l.queueId === id);
    } finally {
      state.clockOffsetMs = 0;
    }
    assert.deepEqual(await held(), []);
  });
});
