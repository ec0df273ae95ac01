// Mail-flow rules end to end in the pure core: YAML → compiled rules → one filter per rule →
// the verdict each gives for a message. The pipeline that applies verdicts is tested elsewhere.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { ConfigError, loadConfigText, loadConfigTextWithWarnings } from '../../src/config/load.js';
import type { ContentContext, FilterVerdict, HeaderField, MimePart, PipelineFacts } from '../../src/filters/contract.js';
import { transportRuleFilters, headerAddress } from '../../src/filters/transport-rules.js';
import type { Model } from '../../src/domain/model.js';
import { inbound } from '../helpers/model-builder.js';

const BASE = `server:
  hostname: gw.example.test
  listen: [{ host: 127.0.0.1, port: 2525 }]
  tls: { cert: certs/server.crt, key: certs/server.key }
acceptedDomains: [{ domain: contoso.com }]
outboundConnectors:
  - { name: Partner TLS, connectorType: Partner, isTransportRuleScoped: true, smartHosts: [mx.partner.test], tlsSettings: EncryptionOnly }
  - { name: To on-prem, connectorType: OnPremises, allAcceptedDomains: true, smartHosts: [mail.contoso.com] }
`;

const load = (rules: string): Model => loadConfigText(`${BASE}transportRules:\n${rules}`, 'rules.yaml');

function issues(rules: string) {
  try {
    load(rules);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues;
  }
  return [];
}

interface Msg {
  mailFrom?: string;
  rcpts?: string[];
  headers?: Record<string, string>;
  parts?: Partial<MimePart>[];
  size?: number;
  scl?: number | null;
  ip?: string;
  onPrem?: boolean;
}

function context(model: Model, m: Msg, facts: PipelineFacts): ContentContext {
  const headers: HeaderField[] = Object.entries(m.headers ?? { From: 'Bob <bob@fabrikam.com>', Subject: 'hello' }).map(([name, value]) => ({
    name,
    value,
    line: `${name}: ${value}\r\n`,
  }));
  const parts: MimePart[] = (m.parts ?? [{ contentType: 'text/plain', content: Buffer.from('Hello there') }]).map((p, i) => ({
    path: String(i + 1),
    contentType: 'text/plain',
    filename: null,
    disposition: null,
    depth: 1,
    truncated: false,
    content: Buffer.alloc(0),
    size: p.content?.length ?? 0,
    ...p,
  }));
  return {
    model,
    facts,
    signal: new AbortController().signal,
    session: {
      sessionId: 's1',
      peerIp: m.ip ?? '203.0.113.9',
      clientIp: m.ip ?? '203.0.113.9',
      helo: 'mx.fabrikam.com',
      tls: true,
      certNames: [],
      inbound: m.onPrem ? inbound({ name: 'From on-prem', senderIPAddresses: ['10.0.0.5'] }) : null,
      matchedBy: m.onPrem ? 'ip' : null,
    },
    envelope: {
      mailFrom: m.mailFrom ?? 'bob@fabrikam.com',
      rcpts: (m.rcpts ?? ['alice@contoso.com']).map((address) => ({ address, route: { kind: 'connector', connector: 'To on-prem', rule: 'x' } })),
    },
    message: {
      queueId: 'Q1',
      size: m.size ?? 1000,
      headers,
      open: () => Readable.from([]),
      mime: async () => ({ parts, limited: false, limitReason: null }),
    },
  };
}

/** Runs every rule filter in order, as the pipeline would, and returns the verdicts by rule. */
async function run(model: Model, m: Msg): Promise<Map<string, FilterVerdict>> {
  const facts: PipelineFacts = { ipAllowed: false, scl: m.scl ?? null, bcl: null, auth: null, skip: new Set() };
  const out = new Map<string, FilterVerdict>();
  // One context per message, as the runner passes the same message view to every filter.
  const ctx = context(model, m, facts);
  for (const f of transportRuleFilters(model)) {
    const v = await f.content!(ctx);
    out.set(f.name, v);
  }
  return out;
}

const kind = (v: FilterVerdict | undefined) => v?.action.kind;

describe('transportRules config', () => {
  it('loads the issue example and orders by priority', () => {
    const model = load(`  - name: Second
    priority: 1
    subjectContainsWords: [x]
    setSCL: 5
  - name: Route finance mail through the partner's TLS connector
    priority: 0
    state: Enabled
    mode: Enforce
    sentToScope: NotInOrganization
    subjectOrBodyContainsWords: [invoice]
    exceptIfFromAddressContainsWords: [noreply]
    routeMessageOutboundConnector: Partner TLS
    stopRuleProcessing: true
`);
    assert.deepEqual(model.transportRules.map((r) => r.name), ["Route finance mail through the partner's TLS connector", 'Second']);
  });
  const bad: [string, string, RegExp][] = [
    ['  - { name: R, rejectMessageReasonText: no, rejectMessageEnhancedStatusCode: 5.7.12 }\n', 'transportRules[0].rejectMessageEnhancedStatusCode', /5\.7\.900/],
    ['  - { name: R, routeMessageOutboundConnector: Nope }\n', 'transportRules[0].routeMessageOutboundConnector', /no outbound connector/],
    ['  - { name: R, subjectOrBodyMatchesPatterns: ["(a+)+$"], deleteMessage: true }\n', 'transportRules[0].subjectOrBodyMatchesPatterns[0]', /exponential/],
    ['  - { name: R, subjectOrBodyMatchesPatterns: ["(unclosed"], deleteMessage: true }\n', 'transportRules[0].subjectOrBodyMatchesPatterns[0]', /not a valid regular expression/],
    ['  - { name: R, subjectContainsWords: [x] }\n', 'transportRules[0]', /at least one action/],
    ['  - { name: R, headerContainsMessageHeader: X-Foo, deleteMessage: true }\n', 'transportRules[0].headerContainsWords', /go together/],
    ['  - { name: R, deleteMessage: true, quarantine: true }\n', 'transportRules[0]', /cannot be combined/],
    ['  - { name: R, deleteMessage: true, sclOver: 12 }\n', 'transportRules[0].sclOver', /9/],
    ['  - { name: R, deleteMessage: true, bogusCondition: 1 }\n', 'transportRules[0].bogusCondition', /unknown key/],
    ['  - { name: R, deleteMessage: true, messageContainsDataClassifications: [{ name: Passport }] }\n', 'transportRules[0].messageContainsDataClassifications[0].name', /Credit Card Number/],
    ['  - { name: R, deleteMessage: true }\n  - { name: r, deleteMessage: true }\n', 'transportRules[1].name', /already used/],
  ];
  for (const [yaml, path, message] of bad) {
    it(`refuses ${yaml.trim()}`, () => {
      const found = issues(yaml);
      assert.ok(
        found.some((i) => i.path === path && message.test(i.message)),
        `expected ${path} ~ ${message}, got ${JSON.stringify(found.map((i) => [i.path, i.message]))}`,
      );
    });
  }
  it('warns when a rule routes through a connector that is not rule-scoped', () => {
    const { warnings } = loadConfigTextWithWarnings(`${BASE}transportRules:\n  - { name: R, routeMessageOutboundConnector: To on-prem }\n`, 'r.yaml');
    assert.ok(warnings.some((w) => w.path === 'transportRules[0].routeMessageOutboundConnector'));
  });
});

describe('conditions', () => {
  it('routes matching mail to the rule-scoped connector; exceptions and scopes apply', async () => {
    const model = load(`  - name: Finance
    sentToScope: NotInOrganization
    subjectOrBodyContainsWords: [invoice]
    exceptIfFromAddressContainsWords: [noreply]
    routeMessageOutboundConnector: partner tls
    routeMessageOutboundRequireTls: true
`);
    const onPrem = { onPrem: true, mailFrom: 'ann@contoso.com', headers: { From: 'ann@contoso.com', Subject: 'Your Invoice 42' } };
    const hit = (await run(model, { ...onPrem, rcpts: ['x@partner.test', 'bob@contoso.com'] })).get('rule:Finance');
    assert.deepEqual(hit?.route, { connector: 'Partner TLS', rule: 'Finance', requireTls: true });
    assert.deepEqual(hit?.recipients, ['x@partner.test'], 'only the recipient outside the organisation');
    const inside = (await run(model, { ...onPrem, rcpts: ['bob@contoso.com'] })).get('rule:Finance');
    assert.equal(inside?.route, undefined);
    const noreply = (await run(model, { ...onPrem, rcpts: ['x@partner.test'], headers: { From: 'noreply@contoso.com', Subject: 'invoice' } })).get('rule:Finance');
    assert.equal(noreply?.route, undefined, 'exception holds');
    const wordPart = (await run(model, { ...onPrem, rcpts: ['x@partner.test'], headers: { From: 'ann@contoso.com', Subject: 'invoices' } })).get('rule:Finance');
    assert.equal(wordPart?.route, undefined, 'whole words only');
    const inBody = (await run(model, { ...onPrem, rcpts: ['x@partner.test'], headers: { From: 'ann@contoso.com', Subject: 'hi' }, parts: [{ content: Buffer.from('see the INVOICE attached') }] })).get('rule:Finance');
    assert.equal(inBody?.route?.connector, 'Partner TLS');
  });

  it('reads encoded subjects, headers, IP ranges, sizes, SCL and attachments', async () => {
    const model = load(`  - { name: Subj, subjectContainsWords: [café], setSCL: 3 }
  - { name: Hdr, headerContainsMessageHeader: X-Origin, headerContainsWords: [legacy crm], prependSubject: "[CRM] " }
  - { name: Pat, headerMatchesMessageHeader: X-Ticket, headerMatchesPatterns: ["^T-\\\\d{4}$"], setHeaderName: X-Seen, setHeaderValue: yes }
  - { name: Ip, senderIpRanges: [198.51.100.0/24], deleteMessage: true }
  - { name: Big, messageSizeOver: 1MB, quarantine: true }
  - { name: Spammy, sclOver: 6, quarantine: true }
  - { name: Exe, attachmentExtensionMatchesWords: [exe, .js], rejectMessageReasonText: No executables }
  - { name: Att, attachmentSizeOver: 10KB, removeHeader: X-Big }
`);
    const v = await run(model, {
      headers: { From: 'bob@fabrikam.com', Subject: '=?UTF-8?Q?Caf=C3=A9_menu?=', 'X-Origin': 'the Legacy  CRM system', 'X-Ticket': 'T-1234' },
      parts: [{ content: Buffer.from('hi') }, { filename: 'setup.EXE', disposition: 'attachment', contentType: 'application/octet-stream', size: 20_000 }],
      size: 2_000_000,
      scl: 6,
      ip: '198.51.100.7',
    });
    assert.equal(v.get('rule:Subj')?.scl, 3);
    assert.deepEqual(v.get('rule:Hdr')?.headerEdits, [{ op: 'set', name: 'Subject', value: '[CRM] Café menu' }]);
    assert.deepEqual(v.get('rule:Pat')?.headerEdits, [{ op: 'set', name: 'X-Seen', value: 'yes' }]);
    assert.equal(kind(v.get('rule:Ip')), 'delete');
    assert.equal(kind(v.get('rule:Big')), 'quarantine');
    assert.equal(kind(v.get('rule:Spammy')), 'quarantine');
    assert.deepEqual(v.get('rule:Exe')?.action, { kind: 'reject', code: 550, enhanced: '5.7.1', text: 'No executables' });
    assert.deepEqual(v.get('rule:Att')?.headerEdits, [{ op: 'remove', name: 'X-Big' }]);
    const none = await run(model, { headers: { From: 'bob@fabrikam.com', Subject: 'cafe', 'X-Ticket': 'T-12345' }, size: 100, scl: 5 });
    for (const [name, verdict] of none) assert.equal(kind(verdict), 'accept', name);
    for (const [name, verdict] of none) assert.equal(verdict.headerEdits, undefined, name);
  });

  it('senderAddressLocation picks the From header by default, the envelope on request', async () => {
    const model = load(`  - { name: Hdr, from: [ceo@contoso.com], deleteMessage: true }
  - { name: Env, from: [ceo@contoso.com], senderAddressLocation: Envelope, deleteMessage: true }
`);
    const spoof = await run(model, { mailFrom: 'x@evil.test', headers: { From: '"CEO" <CEO@contoso.com>' } });
    assert.equal(kind(spoof.get('rule:Hdr')), 'delete');
    assert.equal(kind(spoof.get('rule:Env')), 'accept');
  });

  it('DLP: a credit card number rejects with the configured code and text', async () => {
    const model = load(`  - name: No cards
    messageContainsDataClassifications: [{ name: Credit Card Number, minCount: 1 }]
    rejectMessageReasonText: Credit card numbers may not be sent by mail
    rejectMessageEnhancedStatusCode: 5.7.901
`);
    const v = await run(model, { parts: [{ content: Buffer.from('my card is 4111 1111 1111 1111 exp 12/29') }] });
    assert.deepEqual(v.get('rule:No cards')?.action, { kind: 'reject', code: 550, enhanced: '5.7.901', text: 'Credit card numbers may not be sent by mail' });
    const csv = await run(model, { parts: [{ content: Buffer.from('hi') }, { filename: 'cards.csv', contentType: 'text/csv', content: Buffer.from('name,card\nann,5555555555554444\n') }] });
    assert.equal(kind(csv.get('rule:No cards')), 'reject', 'text-like attachments are scanned');
    const clean = await run(model, { parts: [{ content: Buffer.from('order 4111 1111 1111 1112') }] });
    assert.equal(kind(clean.get('rule:No cards')), 'accept');
  });

  it('redirect, blind copy and add-to', async () => {
    const model = load(`  - { name: Legal, sentTo: [alice@contoso.com], redirectMessageTo: [legal@contoso.com] }
  - { name: Bcc, senderDomainIs: [fabrikam.com], blindCopyTo: [archive@contoso.com] }
  - { name: AddTo, subjectContainsWords: [hello], addToRecipients: [team@contoso.com] }
`);
    const v = await run(model, { rcpts: ['alice@contoso.com', 'bob@contoso.com'], headers: { From: 'bob@fabrikam.com', To: 'alice@contoso.com', Subject: 'hello' } });
    assert.deepEqual(v.get('rule:Legal')?.redirectTo, ['legal@contoso.com']);
    assert.deepEqual(v.get('rule:Legal')?.recipients, ['alice@contoso.com']);
    assert.deepEqual(v.get('rule:Bcc')?.addRecipients, ['archive@contoso.com']);
    assert.deepEqual(v.get('rule:AddTo')?.addRecipients, ['team@contoso.com']);
    assert.deepEqual(v.get('rule:AddTo')?.headerEdits, [{ op: 'set', name: 'To', value: 'alice@contoso.com, team@contoso.com' }]);
  });

  it('Audit mode changes nothing but says what it would have done; stopRuleProcessing ends the list; Disabled rules never run', async () => {
    const model = load(`  - { name: Audit, mode: Audit, subjectContainsWords: [hello], rejectMessageReasonText: no }
  - { name: Stop, subjectContainsWords: [hello], setSCL: 1, stopRuleProcessing: true }
  - { name: After, deleteMessage: true }
  - { name: Off, state: Disabled, deleteMessage: true }
`);
    const v = await run(model, {});
    assert.equal(kind(v.get('rule:Audit')), 'accept');
    assert.deepEqual(v.get('rule:Audit')?.evidence?.actions, ['reject 5.7.1']);
    assert.match(v.get('rule:Audit')?.reason ?? '', /Audit/);
    assert.equal(v.get('rule:Stop')?.scl, 1);
    assert.equal(kind(v.get('rule:After')), 'accept');
    assert.match(v.get('rule:After')?.reason ?? '', /stopped rule processing/);
    assert.equal(v.has('rule:Off'), false);
    const other = await run(model, { headers: { From: 'a@b.test', Subject: 'bye' } });
    assert.equal(kind(other.get('rule:After')), 'delete', 'without the stop the rule after runs');
  });

  it('fromScope InOrganization needs an on-premises session and an accepted domain', async () => {
    const model = load(`  - { name: Internal, fromScope: InOrganization, setSCL: -1 }\n`);
    assert.equal((await run(model, { onPrem: true, headers: { From: 'ann@contoso.com' } })).get('rule:Internal')?.scl, -1);
    assert.equal((await run(model, { onPrem: false, headers: { From: 'ann@contoso.com' } })).get('rule:Internal')?.scl, undefined, 'spoofed internal sender');
  });
});

describe('disclaimer action', () => {
  it('adds a disclaimer transform, or applies the fallback when the body cannot take one', async () => {
    const model = load(`  - { name: Wrap, fromScope: InOrganization, applyHtmlDisclaimerText: "<p>Contoso confidential</p>" }
  - { name: Strict, subjectContainsWords: [strict], applyHtmlDisclaimerText: "x", applyHtmlDisclaimerFallbackAction: Reject }
`);
    const plain = await run(model, { onPrem: true, headers: { From: 'ann@contoso.com', Subject: 'hi' } });
    assert.deepEqual(plain.get('rule:Wrap')?.bodyTransforms, [{ kind: 'disclaimer', text: '<p>Contoso confidential</p>', location: 'Append' }]);
    const sealed = [{ contentType: 'application/pkcs7-mime', content: Buffer.from('x') }];
    const wrapped = await run(model, { onPrem: true, headers: { From: 'ann@contoso.com', Subject: 'strict' }, parts: sealed });
    assert.deepEqual(wrapped.get('rule:Wrap')?.bodyTransforms, [{ kind: 'wrap', text: '<p>Contoso confidential</p>' }]);
    assert.equal(kind(wrapped.get('rule:Strict')), 'reject');
  });
});

it('headerAddress', () => {
  assert.equal(headerAddress('"Doe, John" <John@Contoso.com>'), 'john@contoso.com');
  assert.equal(headerAddress('john@contoso.com (John)'), 'john@contoso.com');
  assert.equal(headerAddress('undisclosed-recipients:;'), null);
});
