// The config loader end to end: units, defaults, case-insensitive enums, error positions
// (file, key path, line), the shipped configs, and the frozen Model. Cross-field rules are
// in config-rules.test.ts.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseDnsServer, parseSmartHost } from '../../src/config/hosts.js';
import { ConfigError, formatIssues, loadConfigFile, loadConfigFileWithWarnings, loadConfigText, type ConfigIssue } from '../../src/config/load.js';
import { parseDuration, parseSize } from '../../src/config/units.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url)); // dist/test/unit → repo root
const fixture = (name: string) => resolve(ROOT, 'test/fixtures/config', name);

const BASE = `server:
  hostname: gw.example.test
  listen: [{ host: 127.0.0.1, port: 2525 }]
  tls: { cert: certs/server.crt, key: certs/server.key, clientCa: [certs/ca.crt] }
`;

function issuesOf(text: string): ConfigIssue[] {
  try {
    loadConfigText(text, 'test.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'E_CONFIG');
    return err.issues;
  }
  assert.fail('expected the config to be rejected');
}

describe('units', () => {
  const sizes: [string | number, number][] = [
    ['35MB', 35 * 1_048_576],
    ['512KB', 524_288],
    ['1GB', 1_073_741_824],
    ['100B', 100],
    ['2MiB', 2_097_152],
    ['64kib', 65_536],
    ['35 mb', 35 * 1_048_576],
    ['4096', 4096],
    [4096, 4096],
  ];
  for (const [input, bytes] of sizes) {
    it(`reads the size ${JSON.stringify(input)} as ${bytes} bytes`, () => assert.equal(parseSize(input), bytes));
  }
  const durations: [string | number, number][] = [
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['24h', 86_400_000],
    ['2d', 172_800_000],
    ['45', 45_000],
    [60, 60_000],
  ];
  for (const [input, ms] of durations) {
    it(`reads the duration ${JSON.stringify(input)} as ${ms} ms`, () => assert.equal(parseDuration(input), ms));
  }
  for (const bad of ['35XB', 'MB', '-1MB', '', '1.2.3KB']) {
    it(`rejects the size ${JSON.stringify(bad)}`, () => assert.throws(() => parseSize(bad), /not a valid size/));
  }
  for (const bad of ['5 minutes', '1w', 'h', '-5s']) {
    it(`rejects the duration ${JSON.stringify(bad)}`, () => assert.throws(() => parseDuration(bad), /not a valid duration/));
  }
});

describe('host strings', () => {
  const smartHosts: [string, { host: string; port: number | null }][] = [
    ['mail.contoso.com', { host: 'mail.contoso.com', port: null }],
    ['Mail.Contoso.COM:2526', { host: 'mail.contoso.com', port: 2526 }],
    ['10.0.0.5', { host: '10.0.0.5', port: null }],
    ['10.0.0.5:2526', { host: '10.0.0.5', port: 2526 }],
    ['[2001:db8::1]:2526', { host: '2001:db8::1', port: 2526 }],
    ['2001:DB8:0::1', { host: '2001:db8::1', port: null }],
  ];
  for (const [input, expected] of smartHosts) {
    it(`parses the smart host ${input}`, () => assert.deepEqual(parseSmartHost(input), expected));
  }
  for (const bad of ['mail.contoso.com:0', 'mail.contoso.com:99999', 'mail..contoso.com', '10.0.0.5:x', '[::1]:']) {
    it(`rejects the smart host ${JSON.stringify(bad)}`, () => assert.throws(() => parseSmartHost(bad)));
  }
  it('accepts DNS servers as IPv4 or IPv6 with an optional port', () => {
    assert.deepEqual(
      ['127.0.0.1', '127.0.0.1:5353', '::1', '[::1]:5353'].map(parseDnsServer),
      ['127.0.0.1', '127.0.0.1:5353', '::1', '[::1]:5353'],
    );
    assert.throws(() => parseDnsServer('dns.example.test'), /not an IP address/);
  });
});

describe('loading a config', () => {
  it('fills in every default from issue 2 for a minimal config', async () => {
    const model = await loadConfigFile(fixture('minimal.yaml'));
    assert.equal(model.source, fixture('minimal.yaml'));
    assert.deepEqual(model.server.limits, {
      maxMessageSize: 35 * 1_048_576,
      maxRecipients: 500,
      maxConnections: 1000,
      maxConnectionsPerIp: 50,
      maxMessagesPerConnection: 50,
      idleTimeoutMs: 60_000,
      greetingDelayMs: 0,
      commandTimeoutMs: 300_000,
      dataTimeoutMs: 600_000,
      maxSessionDurationMs: 1_800_000,
    });
    assert.deepEqual(model.server.tls.clientCa, []);
    assert.equal(model.server.tls.generateDevCertificates, false);
    assert.deepEqual(model.delivery, {
      mxPort: 25,
      softBounce: false,
      delayWarningMs: null,
      retry: { initialMs: 300_000, maxMs: 3_600_000, lifetimeMs: 86_400_000 },
      timeouts: { connectMs: 30_000, greetingMs: 300_000, commandMs: 300_000, dataInitMs: 120_000, dataTransferMs: 180_000, dataDoneMs: 600_000 },
      concurrency: { perDomain: 20, total: 200 },
      hostDownMs: 60_000,
    });
    assert.deepEqual(model.routing.precedence, ['exact', 'allAcceptedDomains', 'wildcard']);
    assert.deepEqual(model.dns.servers, []);
    assert.equal(model.spool.dir, resolve(process.cwd(), 'data/spool'));
    assert.deepEqual([model.acceptedDomains, model.inboundConnectors, model.outboundConnectors], [[], [], []]);
  });

  it('fills in connector defaults', () => {
    const model = loadConfigText(
      BASE +
        `inboundConnectors: [{ name: in, senderIPAddresses: [10.0.0.5] }]
outboundConnectors: [{ name: out, allAcceptedDomains: true, smartHosts: [mail.contoso.test] }]`,
      'test.yaml',
    );
    const [inbound] = model.inboundConnectors;
    const [outbound] = model.outboundConnectors;
    assert.ok(inbound && outbound);
    assert.deepEqual(
      [inbound.enabled, inbound.connectorType, inbound.senderDomains.map((d) => d.kind), inbound.tlsSenderCertificateName],
      [true, 'Partner', ['any'], null],
    );
    assert.deepEqual(
      [outbound.maxMessagesPerConnection, outbound.maxConnections, outbound.tlsSettings, outbound.tlsCa, outbound.tlsCert],
      [50, 49, null, [], null],
    );
    assert.deepEqual(outbound.smartHosts, [{ host: 'mail.contoso.test', port: null }]);
  });

  it('reads server.limits.greetingDelay as a duration that may be 0', () => {
    const delay = (v: string) => loadConfigText(BASE + `  limits: { greetingDelay: ${v} }\n`, 'test.yaml').server.limits.greetingDelayMs;
    assert.deepEqual(['0', '0s', '500ms', '2s', '1.5'].map(delay), [0, 0, 500, 2_000, 1_500]);
    const [issue] = issuesOf(BASE + `  limits: { greetingDelay: -1s }\n`);
    assert.equal(issue?.path, 'server.limits.greetingDelay');
    assert.match(issue?.message ?? '', /not a valid duration/);
  });

  it('matches enumerated values case-insensitively and stores EOP spelling', () => {
    const model = loadConfigText(
      BASE +
        `routing: { precedence: [EXACT, Wildcard, allaccepteddomains] }
acceptedDomains: [{ domain: Contoso.Test, type: internalrelay }]
inboundConnectors: [{ name: in, connectorType: onpremises, senderIPAddresses: [10.0.0.5] }]
outboundConnectors:
  - { name: out, connectorType: PARTNER, recipientDomains: [fabrikam.test], useMxRecord: true,
      tlsSettings: domainVALIDATION, tlsDomain: "*.Fabrikam.test" }`,
      'test.yaml',
    );
    assert.deepEqual(model.routing.precedence, ['exact', 'wildcard', 'allAcceptedDomains']);
    assert.deepEqual(model.acceptedDomains, [{ domain: 'contoso.test', type: 'InternalRelay' }]);
    assert.equal(model.inboundConnectors[0]?.connectorType, 'OnPremises');
    assert.equal(model.outboundConnectors[0]?.connectorType, 'Partner');
    assert.equal(model.outboundConnectors[0]?.tlsSettings, 'DomainValidation');
    assert.equal(model.outboundConnectors[0]?.tlsDomain, '*.fabrikam.test');
  });

  it('resolves relative file paths against the working directory', () => {
    const model = loadConfigText(BASE, 'sub/dir/test.yaml');
    assert.equal(model.source, resolve('sub/dir/test.yaml'));
    assert.equal(model.server.tls.cert, resolve(process.cwd(), 'certs/server.crt'));
    assert.deepEqual(model.server.tls.clientCa, [resolve(process.cwd(), 'certs/ca.crt')]);
  });

  it('returns a deeply frozen model', () => {
    const model = loadConfigText(
      BASE + `inboundConnectors: [{ name: in, senderIPAddresses: [10.0.0.5] }]`,
      'test.yaml',
    );
    const deep = [model, model.server, model.server.limits, model.server.listen, model.inboundConnectors];
    for (const part of [...deep, model.inboundConnectors[0], model.inboundConnectors[0]?.senderIPAddresses[0]]) {
      assert.ok(Object.isFrozen(part));
    }
    assert.throws(() => {
      (model.server.limits as { maxRecipients: number }).maxRecipients = 1;
    }, TypeError);
  });
});

describe('shipped configs', () => {
  const examples = readdirSync(resolve(ROOT, 'config/examples')).filter((f) => f.endsWith('.yaml'));
  it('include the three seed scenarios and the partner lock-down recipe', () => {
    assert.deepEqual(examples.sort(), ['eop-standalone.yaml', 'hybrid-two-sites.yaml', 'partner-forced-tls.yaml', 'partner-lockdown.yaml', 'protected-signing.yaml', 'protected.yaml']);
  });
  it('config/sluice.yaml loads and is the only one that generates dev certificates', async () => {
    const model = await loadConfigFile(resolve(ROOT, 'config/sluice.yaml'));
    assert.equal(model.server.tls.generateDevCertificates, true);
    assert.deepEqual(model.server.listen, [{ host: '127.0.0.1', port: 2525, proxyProtocol: false }]);
    assert.deepEqual(model.outboundConnectors[0]?.smartHosts, [{ host: '127.0.0.1', port: 2526 }]);
  });
  // protected-signing.yaml names a DKIM key and a recipient list that only exist once generated;
  // test/unit/config-trust.test.ts loads it with them in place.
  for (const name of examples.filter((f) => f !== 'protected-signing.yaml')) {
    it(`config/examples/${name} loads without dev certificates or warnings`, async () => {
      const { model, warnings } = await loadConfigFileWithWarnings(resolve(ROOT, 'config/examples', name));
      assert.deepEqual(warnings, []);
      assert.equal(model.server.tls.generateDevCertificates, false);
      assert.ok(model.inboundConnectors.length > 0 && model.outboundConnectors.length > 0);
    });
  }
});

describe('error reports', () => {
  const cases: { name: string; text: string; path: string; line: number; message: RegExp }[] = [
    {
      name: 'rejects an unknown key with its path, line and a suggestion',
      text: BASE + `delivery:\n  mxPort: 25\n  softBounse: true\n`,
      path: 'delivery.softBounse',
      line: 7,
      message: /unknown key "softBounse" \(did you mean "softBounce"\?\)/,
    },
    {
      name: 'reports a YAML syntax error with its line',
      text: BASE + `spool:\n  dir: "data/spool\n`,
      path: 'spool.dir',
      line: 7,
      message: /quote/,
    },
    {
      name: 'rejects a duplicate key',
      text: BASE + `spool:\n  dir: a\n  dir: b\n`,
      path: 'spool.dir',
      line: 7,
      message: /duplicate key/,
    },
    {
      name: 'points a missing required key at its parent mapping',
      text: `server:\n  hostname: gw.example.test\n  listen: [{ host: 127.0.0.1, port: 2525 }]\n  tls:\n    cert: a.crt\n`,
      path: 'server.tls.key',
      line: 4,
      message: /required/,
    },
    {
      name: 'rejects a bad size with its path',
      text: BASE + `  limits:\n    maxMessageSize: 35XB\n`,
      path: 'server.limits.maxMessageSize',
      line: 6,
      message: /"35XB" is not a valid size/,
    },
    {
      name: 'rejects an unknown enumerated value',
      text: BASE + `acceptedDomains:\n  - { domain: contoso.test, type: Authorative }\n`,
      path: 'acceptedDomains[0].type',
      line: 6,
      message: /must be one of Authoritative, InternalRelay/,
    },
    {
      name: 'rejects a string where a boolean belongs',
      text: BASE + `delivery: { softBounce: "yes" }\n`,
      path: 'delivery.softBounce',
      line: 5,
      message: /expected true or false/,
    },
    {
      name: 'rejects a precedence that is not a permutation',
      text: BASE + `routing: { precedence: [exact, exact, wildcard] }\n`,
      path: 'routing.precedence',
      line: 5,
      message: /exactly once/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const [issue, ...rest] = issuesOf(c.text);
      assert.deepEqual(rest, []);
      assert.ok(issue);
      assert.deepEqual([issue.file, issue.path, issue.line], ['test.yaml', c.path, c.line]);
      assert.match(issue.message, c.message);
    });
  }

  it('names a bad IP address by its list index and line', async () => {
    const err = await loadConfigFile(fixture('bad-ip.yaml')).catch((e: unknown) => e);
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(
      err.issues.map((i) => [i.path, i.line, i.column]),
      [['inboundConnectors[0].senderIPAddresses[1]', 10, 9]],
    );
    assert.match(formatIssues(err.issues), /bad-ip\.yaml:10:9: inboundConnectors\[0\]\.senderIPAddresses\[1\]: "10\.0\.0\.300" is not an IP address/);
  });

  it('reports every problem at once, in line order', async () => {
    const err = await loadConfigFile(fixture('many-errors.yaml')).catch((e: unknown) => e);
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(
      err.issues.map((i) => [i.path, i.line]),
      [
        ['server.limits.maxMessageSize', 6],
        ['inboundConnectors[0].senderIPAddresses[1]', 10],
        ['outboundConnectors[0].tlsSetings', 15],
      ],
    );
  });

  it('reports a missing file as an issue at line 0', async () => {
    const err = await loadConfigFile(fixture('does-not-exist.yaml')).catch((e: unknown) => e);
    assert.ok(err instanceof ConfigError);
    assert.equal(err.issues[0]?.line, 0);
    assert.match(formatIssues(err.issues), /does-not-exist\.yaml: cannot read the config file: no such file/);
  });

  it('reports an empty file', () => {
    assert.match(issuesOf('# nothing here\n')[0]?.message ?? '', /empty/);
  });
});
