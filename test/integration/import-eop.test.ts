// `sluice import-eop` end to end through the real CLI on sample exports written from Microsoft's
// documented property lists (test/fixtures/eop/): a hybrid tenant (the Hybrid Configuration
// Wizard's connectors), a partner tenant (forced TLS, single objects, numeric enums, IP and smart
// host objects, PowerShell extras), the worked routing example of Microsoft's connector article,
// and enhanced filtering. The output is checked by `sluice check` and `sluice route`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, parseDocument } from 'yaml';
import { CLI, REPO_ROOT } from '../helpers/sluice.js';
import { loadConfigFile } from '../../src/config/load.js';

const FIX = path.join(REPO_ROOT, 'test/fixtures/eop');
const fx = (name: string) => path.join(FIX, name);
/** Keys the importer writes that other branches add to the schema (connection filter, rules). */
const PENDING_KEYS = ['connectionFilter', 'transportRules', 'treatMessagesAsInternal', 'efSkipLastIP', 'efSkipIPs', 'efUsers'];
const CLI_TIMEOUT_MS = 20_000;

let dir: string;

function sluice(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: dir, timeout: CLI_TIMEOUT_MS }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function importTo(name: string, args: string[]): Promise<{ file: string; yaml: string; config: Record<string, any>; warnings: string[]; stderr: string }> {
  const file = path.join(dir, `${name}.yaml`);
  const r = await sluice(['import-eop', ...args, '-o', file]);
  assert.equal(r.code, 0, r.stderr);
  const yaml = await readFile(file, 'utf8');
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning: '));
  return { file, yaml, config: parse(yaml) as Record<string, any>, warnings, stderr: r.stderr };
}

/** `sluice check --json`; issues about keys still pending on other branches are tolerated. */
async function check(file: string): Promise<{ ok: boolean; issues: { path: string; message: string }[]; pending: string[] }> {
  const r = await sluice(['check', '--config', file, '--json']);
  const out = JSON.parse(r.stdout) as { ok: boolean; issues?: { path: string; message: string }[] };
  const issues = out.issues ?? [];
  const pending = issues.filter((i) => PENDING_KEYS.some((k) => i.message === `unknown key "${k}"`)).map((i) => i.path);
  return { ok: out.ok, issues: issues.filter((i) => !pending.includes(i.path)), pending };
}

/** Every warning on stderr is also a NOT IMPORTED comment in the YAML, and the other way round. */
function assertWarningsAreComments(yaml: string, warnings: string[]): void {
  const comments = [...yaml.matchAll(/# NOT IMPORTED: (.*)$/gm)].map((m) => m[1]!);
  assert.equal(comments.length, warnings.length, `${comments.length} comments, ${warnings.length} warnings`);
  for (const w of warnings) assert.ok(comments.some((c) => w.endsWith(`: ${c}`)), `warning without comment: ${w}`);
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'sluice-import-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a hybrid tenant', () => {
  const args = ['--inbound', fx('hybrid/in.json'), '--outbound', fx('hybrid/out.json'), '--accepted-domains', fx('hybrid/ad.json')];

  test('imports every connector with its EOP name and comment, and passes sluice check', async () => {
    const { file, config } = await importTo('hybrid', args);
    assert.deepEqual(
      config.inboundConnectors.map((c: any) => [c.name, c.comment ?? null]),
      [
        ['Inbound from 5f2a9c1e-3b7d-4e8f-a1c2-d3e4f5a6b7c8', null],
        ['From app servers', 'Printers and line-of-business apps in the datacenter'],
      ],
    );
    assert.deepEqual(config.inboundConnectors[0], {
      name: 'Inbound from 5f2a9c1e-3b7d-4e8f-a1c2-d3e4f5a6b7c8',
      enabled: true,
      connectorType: 'OnPremises',
      cloudServicesMailEnabled: true,
      senderDomains: ['*'],
      tlsSenderCertificateName: 'mail.contoso.com',
      requireTls: true,
      restrictDomainsToIPAddresses: false,
      restrictDomainsToCertificate: false,
    });
    assert.deepEqual(config.inboundConnectors[1].senderIPAddresses, ['192.0.2.10', '198.51.100.0/24', '198.51.100.240-198.51.100.249']);
    assert.deepEqual(config.outboundConnectors, [
      {
        name: 'Outbound to 5f2a9c1e-3b7d-4e8f-a1c2-d3e4f5a6b7c8',
        enabled: true,
        connectorType: 'OnPremises',
        cloudServicesMailEnabled: true,
        recipientDomains: ['contoso.com'],
        smartHosts: ['mail.contoso.com'],
        tlsSettings: 'DomainValidation',
        tlsDomain: 'mail.contoso.com',
      },
    ]);
    assert.deepEqual(config.acceptedDomains, [
      { domain: 'contoso.com', type: 'Authoritative' },
      { domain: 'contoso.mail.onmicrosoft.com', type: 'Authoritative' },
      { domain: 'contoso.onmicrosoft.com', type: 'Authoritative' },
      { domain: 'fabrikam.com', type: 'InternalRelay' },
    ]);
    const r = await check(file);
    assert.deepEqual([r.ok, r.issues, r.pending], [true, [], []]);
    // The config Sluice loads matches what EOP had: the IP range object became a CIDR rule.
    const model = await loadConfigFile(file);
    const rule = model.inboundConnectors[1]!.senderIPAddresses[1]!;
    assert.deepEqual([rule.first, rule.last], [0xc6336400n, 0xc63364ffn]);
  });

  test('reports the wizard-made connectors on stderr and as comments above them', async () => {
    const { yaml, warnings } = await importTo('hybrid-warnings', args);
    assert.deepEqual(warnings.map((w) => /^warning: (\w+ connector "[^"]+"): (\w+)/.exec(w)?.slice(1, 3).join(' ')), [
      'inbound connector "Inbound from 5f2a9c1e-3b7d-4e8f-a1c2-d3e4f5a6b7c8" ConnectorSource',
      'outbound connector "Outbound to 5f2a9c1e-3b7d-4e8f-a1c2-d3e4f5a6b7c8" ConnectorSource',
    ]);
    assertWarningsAreComments(yaml, warnings);
    // The comment sits right above the connector it is about.
    assert.match(yaml, /# NOT IMPORTED: ConnectorSource HybridWizard [^\n]*\n  - name: Inbound from 5f2a9c1e/);
    assert.match(yaml, /# EOP name: Fabrikam \(still on-premises\)\n  - domain: fabrikam\.com/);
    assert.doesNotMatch(yaml, /RunspaceId|PSComputerName|WhenChanged|DistinguishedName/);
  });

  test('writes the routing precedence with the reason for it', async () => {
    const { yaml, config } = await importTo('hybrid-precedence', args);
    assert.deepEqual(config.routing.precedence, ['exact', 'wildcard', 'allAcceptedDomains']);
    const doc = parseDocument(yaml);
    const comment = (doc.contents as any).items.find((p: any) => p.key.value === 'routing').key.commentBefore as string;
    assert.match(comment, /most specific connector possible/);
    assert.match(comment, /numbered list/);
  });

  test('reads an export written by Windows PowerShell 5.1 (UTF-16LE with a byte order mark)', async () => {
    const utf16 = path.join(dir, 'in-utf16.json');
    const text = await readFile(fx('hybrid/in.json'), 'utf8');
    await writeFile(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
    const a = await importTo('utf16', ['--inbound', utf16, '--outbound', fx('hybrid/out.json')]);
    const b = await importTo('utf8', ['--inbound', fx('hybrid/in.json'), '--outbound', fx('hybrid/out.json')]);
    assert.deepEqual(a.config.inboundConnectors, b.config.inboundConnectors);
  });
});

describe('a partner tenant', () => {
  const args = ['--inbound', fx('partner/in.json'), '--outbound', fx('partner/out.json'), '--accepted-domains', fx('partner/ad.json')];

  test('imports a single-object export with numeric enums, IP objects and smart host objects, and passes sluice check', async () => {
    const { file, config } = await importTo('partner', args);
    assert.deepEqual(config.inboundConnectors, [
      {
        name: 'From Woodgrove Bank',
        enabled: true,
        connectorType: 'Partner',
        comment: "Forced TLS, restricted to Woodgrove's servers",
        senderDomains: ['woodgrovebank.com'],
        senderIPAddresses: ['203.0.113.0/26', '203.0.113.200'],
        requireTls: true,
        restrictDomainsToIPAddresses: true,
        restrictDomainsToCertificate: false,
      },
    ]);
    assert.deepEqual(config.outboundConnectors[0].smartHosts, ['mx.woodgrovebank.com', '203.0.113.25']);
    assert.equal(config.outboundConnectors[0].tlsSettings, 'DomainValidation');
    assert.deepEqual(config.outboundConnectors[1], {
      name: 'Forced TLS to Fabrikam',
      enabled: true,
      connectorType: 'Partner',
      recipientDomains: ['fabrikam.com'],
      useMxRecord: true,
      tlsSettings: 'CertificateValidation',
    });
    const r = await check(file);
    assert.deepEqual([r.ok, r.issues], [true, []]);
  });

  test('reports TrustedOrganizations, ScanAndDropRecipients, TestMode and ValidationRecipients', async () => {
    const { yaml, warnings } = await importTo('partner-warnings', args);
    const props = warnings.map((w) => /: (\w+) /.exec(w.replace(/^warning: [^"]*"[^"]*"/, ''))?.[1]);
    assert.deepEqual(props, ['TrustedOrganizations', 'ScanAndDropRecipients', 'TestMode', 'ValidationRecipients']);
    assertWarningsAreComments(yaml, warnings);
    assert.match(yaml, /^# 4 setting\(s\) were not imported\.$/m);
  });

  test('maps the connection filter and transport rules, reporting EnableSafeList and a condition Sluice lacks', async () => {
    const { file, yaml, config, warnings } = await importTo('partner-protection', [
      ...args,
      '--connection-filter', fx('partner/cf.json'),
      '--transport-rules', fx('partner/tr.json'),
    ]);
    assert.deepEqual(config.connectionFilter, { ipAllowList: ['192.0.2.0/24', '198.51.100.10-198.51.100.20'], ipBlockList: ['203.0.113.9'] });
    assert.deepEqual(config.transportRules, [
      {
        name: 'Route finance mail through Woodgrove TLS',
        priority: 0,
        state: 'Enabled',
        mode: 'Enforce',
        sentToScope: 'NotInOrganization',
        subjectOrBodyContainsWords: ['invoice'],
        sclOver: 5,
        messageContainsDataClassifications: [{ name: 'Credit Card Number', minCount: 2 }],
        exceptIfFromAddressContainsWords: ['noreply'],
        routeMessageOutboundConnector: 'To Woodgrove Bank',
        stopRuleProcessing: true,
      },
      {
        name: 'Block password-protected attachments',
        priority: 1,
        state: 'Disabled',
        mode: 'Enforce',
        sentToScope: 'InOrganization',
        messageSizeOver: '10MB',
        rejectMessageReasonText: 'Password-protected attachments are not accepted',
        rejectMessageEnhancedStatusCode: '5.7.1',
      },
    ]);
    assert.ok(warnings.some((w) => /connection filter policy "Default": EnableSafeList \(true\)/.test(w)));
    assert.ok(warnings.some((w) => /transport rule "Block password-protected attachments": AttachmentIsPasswordProtected/.test(w)));
    assertWarningsAreComments(yaml, warnings);
    assert.match(yaml, /# Finance invoices only go out over the partner's TLS connector\n  - name: Route finance mail/);
    const r = await check(file);
    assert.deepEqual(r.issues, []);
    assert.deepEqual(r.pending, [], 'connectionFilter and transportRules are known keys now');
  });
});

describe("Microsoft's worked example of several connectors", () => {
  for (const [rcpt, connector] of [
    ['john@fabrikam.com', 'Connector 1'],
    ['john@contoso.com', 'Connector 2'],
    ['john@sales.contoso.com', 'Connector 3'],
  ] as const) {
    test(`after import, sluice route sends ${rcpt} to ${connector}`, async () => {
      const { file } = await importTo('seed', ['--inbound', fx('seed/in.json'), '--outbound', fx('seed/out.json'), '--accepted-domains', fx('seed/ad.json')]);
      const r = await sluice(['route', '--config', file, '--from', 'sun@example.org', '--to', rcpt, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { recipients: { outbound: { connector: string } | null }[] };
      assert.equal(out.recipients[0]?.outbound?.connector, connector);
    });
  }
});

describe('enhanced filtering and internal mail', () => {
  test('EFSkipIPs and EFUsers keep their names; EFTestMode and TreatMessagesAsInternal on a Partner connector are reported', async () => {
    const { file, config, warnings } = await importTo('ef', ['--inbound', fx('enhanced-filtering/in.json'), '--outbound', fx('seed/out.json')]);
    const c = config.inboundConnectors[0];
    assert.deepEqual([c.treatMessagesAsInternal, c.efSkipIPs, c.efUsers, c.efSkipLastIP], [undefined, ['192.0.2.64/27'], ['ceo@contoso.com'], undefined]);
    assert.equal(warnings.length, 2, warnings.join('\n'));
    assert.ok(warnings.some((w) => /EFTestMode \(true\)/.test(w)));
    assert.ok(warnings.some((w) => /TreatMessagesAsInternal \(True\) applies only to an OnPremises connector/.test(w)));
    const r = await check(file);
    assert.deepEqual(r.issues, []);
  });
});

describe('bad input', () => {
  test('a file that is not JSON is named and nothing is written', async () => {
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, '{ "Name": ');
    const r = await sluice(['import-eop', '--inbound', bad, '--outbound', fx('seed/out.json')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.json: not JSON/);
    assert.equal(r.stdout, '');
  });

  test('--outbound is required', async () => {
    const r = await sluice(['import-eop', '--inbound', fx('seed/in.json')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--inbound and --outbound are required/);
  });

  test('an empty export (the cmdlet found nothing) imports as no connectors, on stdout without -o', async () => {
    const empty = path.join(dir, 'empty.json');
    await writeFile(empty, '');
    const r = await sluice(['import-eop', '--inbound', empty, '--outbound', fx('seed/out.json')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((parse(r.stdout) as { inboundConnectors: unknown[] }).inboundConnectors, []);
  });
});
