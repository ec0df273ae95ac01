// The runner over small test filters (they test the runner, not a feature): stage order, the
// time budget, fail closed, onError: Accept, facts handed to later stages, recipient subsets
// (split groups), header edits, redirects, and the connection stage replayed into DATA.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Readable } from 'node:stream';
import { Pipeline } from '../../src/filters/pipeline.js';
import { groupPlan } from '../../src/filters/plan.js';
import type { Filter, FilterStage, FilterVerdict, MessageView, SessionView } from '../../src/filters/contract.js';
import { buildModel } from '../helpers/model-builder.js';
import { PIPELINE_DEFAULTS } from '../../src/config/sections/pipeline.js';

const log = pino({ level: 'silent' });
const session: SessionView = { sessionId: 's1', peerIp: '203.0.113.5', clientIp: '203.0.113.5', helo: 'mx.fabrikam.com', tls: false, certNames: [], inbound: null, matchedBy: null };
const route = { kind: 'connector', connector: 'To on-prem', rule: 'allAcceptedDomains' };
const envelope = (...rcpts: string[]) => ({ mailFrom: 'a@fabrikam.com', rcpts: (rcpts.length ? rcpts : ['u@contoso.com']).map((address) => ({ address, route })) });
const message: MessageView = { queueId: 'Q1', size: 0, headers: [], open: () => Readable.from([]), mime: async () => ({ parts: [], limited: false, limitReason: null }) };

const accept = (reason = 'pass', extra: Partial<FilterVerdict> = {}): FilterVerdict => ({ action: { kind: 'accept' }, reason, ...extra });

function filter(name: string, stage: FilterStage, content: Filter['content'], extra: Partial<Filter> = {}): Filter {
  return { name, stage, onError: 'Tempfail', content, ...extra };
}

function runner(filters: Filter[], timeoutMs = 1_000): Pipeline {
  const model = buildModel({
    outboundConnectors: [{ name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: ['127.0.0.1:2525'] }],
    sections: { ...PIPELINE_DEFAULTS, filters: { timeoutMs } },
  });
  return new Pipeline({ getModel: () => model, log, factories: [() => filters] });
}

const content = (p: Pipeline, ...rcpts: string[]) => p.content({ session, envelope: envelope(...rcpts), message, connect: null });

describe('pipeline runner', () => {
  test('runs filters in the fixed stage order whatever the registry order, stable within a stage', async () => {
    const seen: string[] = [];
    const f = (name: string, stage: FilterStage) => filter(name, stage, () => (seen.push(name), accept()));
    const p = runner([f('trust', 'headerTrust'), f('spam', 'spam'), f('auth', 'senderAuthentication'), f('rule-a', 'transportRules'), f('av', 'malware'), f('rule-b', 'transportRules')]);
    await content(p);
    assert.deepEqual(seen, ['auth', 'av', 'spam', 'rule-a', 'rule-b', 'trust']);
  });

  const failing: { name: string; fn: Filter['content']; reason: RegExp }[] = [
    { name: 'throws', fn: () => { throw new Error('clamd at 10.1.1.1:3310 refused'); }, reason: /10\.1\.1\.1/ },
    { name: 'rejects its promise', fn: () => Promise.reject(new Error('socket hang up')), reason: /socket hang up/ },
    { name: 'returns nothing', fn: () => undefined as unknown as FilterVerdict, reason: /no verdict/ },
    { name: 'runs past the budget', fn: () => new Promise<FilterVerdict>(() => undefined), reason: /filters\.timeout/ },
  ];
  for (const row of failing) {
    test(`a filter that ${row.name} fails closed: 451 4.7.500 naming the stage, later stages not run`, async () => {
      let later = false;
      const p = runner([filter('av', 'malware', row.fn), filter('spam', 'spam', () => ((later = true), accept()))], 150);
      const { plan, verdicts } = await content(p);
      assert.deepEqual({ ...plan.refusal, reason: undefined }, { code: 451, enhanced: '4.7.500', text: 'Message could not be scanned (malware), try again later', filter: 'av', stage: 'malware', reason: undefined });
      assert.match(plan.refusal!.reason, row.reason, 'the log keeps the cause');
      assert.doesNotMatch(plan.refusal!.text, /10\.1|clamd|av\b/);
      assert.equal(later, false);
      assert.equal(verdicts.at(-1)?.verdict, 'error');
    });
    test(`a filter with onError: Accept that ${row.name} is skipped and the rest still runs`, async () => {
      let later = false;
      const p = runner([filter('av', 'malware', row.fn, { onError: 'Accept' }), filter('spam', 'spam', () => ((later = true), accept()))], 150);
      const { plan } = await content(p);
      if (row.name === 'runs past the budget') {
        // The budget is the whole pipeline's: once spent, the next fail-closed filter tempfails.
        assert.equal(later, false);
        assert.equal(plan.refusal?.stage, 'spam');
      } else {
        assert.equal(plan.refusal, null);
        assert.equal(later, true);
      }
    });
  }

  test('the budget covers the whole pipeline, not each filter: two slow filters together exceed it', async () => {
    const slow = (ms: number) => () => new Promise<FilterVerdict>((r) => setTimeout(() => r(accept()), ms));
    const p = runner([filter('a', 'malware', slow(120)), filter('b', 'spam', slow(120))], 200);
    const t0 = Date.now();
    const { plan } = await content(p);
    assert.equal(plan.refusal?.stage, 'spam');
    assert.ok(Date.now() - t0 < 400);
  });

  test('the signal passed to filters aborts when the budget is spent', async () => {
    let aborted = false;
    const p = runner([filter('a', 'malware', (ctx) => new Promise<FilterVerdict>((r) => ctx.signal.addEventListener('abort', () => ((aborted = true), r(accept())))))], 50);
    await content(p);
    assert.equal(aborted, true);
  });

  test('a reject is the reply for the whole message even when it names one recipient, and stops the pipeline', async () => {
    let later = false;
    const p = runner([
      filter('rule', 'transportRules', () => ({ action: { kind: 'reject', code: 550, enhanced: '5.7.1', text: 'Delivery not authorized' }, recipients: ['b@contoso.com'], reason: 'rule 1' })),
      filter('trust', 'headerTrust', () => ((later = true), accept())),
    ]);
    const { plan } = await content(p, 'a@contoso.com', 'b@contoso.com');
    assert.deepEqual([plan.refusal?.code, plan.refusal?.enhanced, plan.refusal?.text], [550, '5.7.1', 'Delivery not authorized']);
    assert.equal(later, false);
  });

  test('a reject with a 4xx code is still a 5xx, and a tempfail with 5xx a 4xx', async () => {
    const r = await content(runner([filter('x', 'spam', () => ({ action: { kind: 'reject', code: 451, enhanced: '5.7.1', text: 'no' }, reason: 'x' }))]));
    assert.equal(r.plan.refusal?.code, 550);
    const t = await content(runner([filter('x', 'spam', () => ({ action: { kind: 'tempfail', code: 550, enhanced: '4.7.1', text: 'later' }, reason: 'x' }))]));
    assert.equal(t.plan.refusal?.code, 451);
  });

  test('facts: the SCL and evidence of earlier stages reach later ones', async () => {
    let seen: unknown = null;
    const p = runner([
      filter('auth', 'senderAuthentication', () => accept('auth', { evidence: { auth: { spf: 'pass', dkim: 'none', dmarc: 'pass', arc: 'none', dmarcPolicy: null, fromDomain: 'fabrikam.com' } } })),
      filter('spam', 'spam', () => accept('spam', { scl: 6, evidence: { bcl: 4 } })),
      filter('rule', 'transportRules', (ctx) => ((seen = { scl: ctx.facts.scl, bcl: ctx.facts.bcl, dmarc: ctx.facts.auth?.dmarc }), accept())),
    ]);
    await content(p);
    assert.deepEqual(seen, { scl: 6, bcl: 4, dmarc: 'pass' });
  });

  test('the connection stage: its refusal is cached for the session, its facts reach DATA, and it runs again when the judged IP changes', async () => {
    let calls = 0;
    let allowedSeen: boolean | null = null;
    const p = runner([
      { name: 'conn', stage: 'connectionFilter', onError: 'Tempfail', connect: (ctx) => (calls++, ctx.session.clientIp === '198.51.100.7' ? { action: { kind: 'reject', code: 550, enhanced: '5.7.513', text: 'blocked' }, reason: 'block list' } : accept('allow', { evidence: { ipAllowed: true } })) },
      filter('spam', 'spam', (ctx) => ((allowedSeen = ctx.facts.ipAllowed), accept())),
    ]);
    const c = await p.connect(session);
    assert.equal(c.plan.refusal, null);
    const r = await p.content({ session, envelope: envelope(), message, connect: c });
    assert.equal(calls, 1, 'the cached result was replayed, not run again');
    assert.equal(allowedSeen, true);
    assert.equal(r.plan.refusal, null);
    const behind = { ...session, clientIp: '198.51.100.7' };
    const again = await p.content({ session: behind, envelope: envelope(), message, connect: c });
    assert.equal(calls, 2);
    assert.equal(again.plan.refusal?.enhanced, '5.7.513');
  });

  test('a connection filter that fails gives a 4xx before MAIL FROM naming its stage', async () => {
    const p = runner([{ name: 'conn', stage: 'connectionFilter', onError: 'Tempfail', connect: () => Promise.reject(new Error('dns down')) }]);
    const c = await p.connect(session);
    assert.equal(c.plan.refusal?.text, 'Sender could not be checked (connectionFilter), try again later');
  });

  test('recipient subsets: the first quarantine or delete per recipient wins, and groups split by outcome and edits', async () => {
    const p = runner([
      filter('av', 'malware', () => ({ action: { kind: 'quarantine', type: 'Malware', reason: 'EICAR' }, recipients: ['B@contoso.com'], reason: 'virus' })),
      filter('spam', 'spam', () => ({ action: { kind: 'quarantine', type: 'Spam', reason: 'SCL 6' }, reason: 'spam', scl: 6 })),
      filter('rule', 'transportRules', () => ({ action: { kind: 'delete', reason: 'rule 2' }, recipients: ['a@contoso.com'], reason: 'drop' })),
      filter('trust', 'headerTrust', () => accept('stamp', { headerEdits: [{ op: 'add', name: 'X-Stamp', value: '1' }], recipients: ['c@contoso.com', 'd@contoso.com'] })),
    ]);
    const { plan } = await content(p, 'a@contoso.com', 'b@contoso.com', 'c@contoso.com', 'd@contoso.com', 'e@contoso.com');
    const groups = groupPlan(plan).map((g) => ({ d: g.disposition.kind === 'quarantine' ? `q:${g.disposition.type}` : g.disposition.kind, edits: g.edits.length, rcpts: g.rcpts.map((r) => r.address) }));
    assert.deepEqual(groups, [
      { d: 'q:Spam', edits: 0, rcpts: ['a@contoso.com', 'e@contoso.com'] },
      { d: 'q:Malware', edits: 0, rcpts: ['b@contoso.com'] },
      { d: 'q:Spam', edits: 1, rcpts: ['c@contoso.com', 'd@contoso.com'] },
    ]);
  });

  test('route, redirect and added recipients: explicit route for the named, new recipients routed by the routing core', async () => {
    const p = runner([
      filter('rule', 'transportRules', () => accept('rule', { route: { connector: 'Partner TLS', rule: 'rule 3', requireTls: true }, recipients: ['a@contoso.com'] })),
      filter('rule2', 'transportRules', () => accept('rule2', { redirectTo: ['legal@contoso.com'], recipients: ['b@contoso.com'] })),
      filter('rule3', 'transportRules', () => accept('rule3', { addRecipients: ['archive@contoso.com', 'A@contoso.com'] })),
    ]);
    const { plan } = await content(p, 'a@contoso.com', 'b@contoso.com');
    assert.deepEqual(
      plan.rcpts.map((r) => [r.address, r.route.connector, r.route.explicit ?? false, r.addedBy ?? null]),
      [
        ['a@contoso.com', 'Partner TLS', true, null],
        ['legal@contoso.com', 'To on-prem', false, 'rule2'],
        ['archive@contoso.com', 'To on-prem', false, 'rule3'],
      ],
    );
  });

  test('filters are rebuilt when the model changes (a reload)', async () => {
    let model = buildModel({});
    let builds = 0;
    const p = new Pipeline({ getModel: () => model, log, factories: [() => (builds++, [])] });
    p.filters();
    p.filters();
    model = buildModel({});
    p.filters();
    assert.equal(builds, 2);
  });
});
