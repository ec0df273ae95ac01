// `sluice route --message` underneath: the pipeline on a message file, nothing delivered; every
// filter's verdict, where a refusal would be answered, and the per-group outcome.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { runOffline } from '../../src/filters/offline-run.js';
import type { Filter, SessionView } from '../../src/filters/contract.js';
import { buildModel } from '../helpers/model-builder.js';

const log = pino({ level: 'silent' });
const session: SessionView = { sessionId: 'route', peerIp: '203.0.113.5', clientIp: '203.0.113.5', helo: '', tls: false, certNames: [], inbound: null, matchedBy: null };
const route = { kind: 'connector', connector: 'To on-prem', rule: 'allAcceptedDomains' };
const envelope = { mailFrom: 'a@fabrikam.com', rcpts: ['u@contoso.com', 'legal@contoso.com'].map((address) => ({ address, route })) };

async function file(text: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-route-'));
  const f = path.join(dir, 'm.eml');
  await writeFile(f, text);
  return f;
}

describe('the pipeline on a message file', () => {
  test('prints each verdict and the outcome per recipient group; LF line ends read as CRLF', async () => {
    let seenSubject = '';
    const filters: Filter[] = [
      { name: 'subject-rule', stage: 'transportRules', onError: 'Tempfail', content: (ctx) => ((seenSubject = ctx.message.headers.find((h) => h.name === 'Subject')!.value), { action: { kind: 'quarantine', type: 'TransportRule', reason: 'legal hold' }, recipients: ['legal@contoso.com'], reason: 'rule 1' }) },
      { name: 'stamp', stage: 'headerTrust', onError: 'Tempfail', content: () => ({ action: { kind: 'accept' }, reason: 'stamped', headerEdits: [{ op: 'add', name: 'X-A', value: '1' }] }) },
    ];
    const out = await runOffline(buildModel({}), await file('Subject: hello\nFrom: a@fabrikam.com\n\nbody\n'), session, envelope, log, [() => filters]);
    assert.equal(seenSubject, 'hello');
    assert.equal(out.reply, '250 2.6.0 Queued mail for delivery');
    assert.deepEqual(out.verdicts.map((v) => [v.filter, v.verdict]), [['subject-rule', 'quarantine'], ['stamp', 'accept']]);
    assert.deepEqual(out.groups, [
      { disposition: 'deliver', recipients: ['u@contoso.com'], headerEdits: 1 },
      { disposition: 'quarantine (TransportRule: legal hold)', recipients: ['legal@contoso.com'], headerEdits: 1 },
    ]);
  });

  test('a connection-stage refusal is answered at MAIL FROM; the content filters do not run', async () => {
    let ran = false;
    const filters: Filter[] = [
      { name: 'block', stage: 'connectionFilter', onError: 'Tempfail', connect: () => ({ action: { kind: 'reject', code: 550, enhanced: '5.7.513', text: 'Service unavailable, Client host [203.0.113.5] blocked using Customer Block list' }, reason: 'block list' }) },
      { name: 'av', stage: 'malware', onError: 'Tempfail', content: () => ((ran = true), { action: { kind: 'accept' }, reason: 'clean' }) },
    ];
    const out = await runOffline(buildModel({}), await file('Subject: x\r\n\r\nbody\r\n'), session, envelope, log, [() => filters]);
    assert.equal(out.at, 'MAIL FROM');
    assert.match(out.reply, /^550 5\.7\.513 /);
    assert.equal(ran, false);
  });
});
