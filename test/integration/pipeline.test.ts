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
import type { Filter, FilterVerdict } from '../../src/filters/contract.js';

type Mode = 'accept' | 'slow' | 'throw' | 'reject' | 'delete' | 'edit';
const state: { mode: Mode; calls: number } = { mode: 'accept', calls: 0 };

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
