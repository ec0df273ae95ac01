// The cross-field rules of config/compile.ts: each table row is a config that is valid key by key
// but breaks one rule, and the single issue it must produce (key path, line, message fragment).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfigText, loadConfigTextWithWarnings, type ConfigIssue } from '../../src/config/load.js';

// Lines 1-4; every case's own YAML starts at line 5.
const BASE = `server:
  hostname: gw.example.test
  listen: [{ host: 127.0.0.1, port: 2525 }]
  tls: { cert: certs/server.crt, key: certs/server.key, clientCa: [certs/ca.crt] }
`;
const ON_PREM_IN = `  - { name: From on-prem, connectorType: OnPremises, senderIPAddresses: [10.0.0.5] }\n`;
const ON_PREM_OUT = `  - { name: To on-prem, connectorType: OnPremises, allAcceptedDomains: true, smartHosts: [mail.contoso.test] }\n`;

function issuesOf(text: string): ConfigIssue[] {
  try {
    loadConfigText(text, 'rules.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues;
  }
  return [];
}

const rules: { name: string; yaml: string; base?: string; path: string; line: number; message: RegExp }[] = [
  {
    name: 'rejects two inbound connectors whose names differ only in case',
    yaml: `inboundConnectors:\n${ON_PREM_IN}  - { name: FROM ON-PREM, senderIPAddresses: [10.0.0.6] }\n`,
    path: 'inboundConnectors[1].name',
    line: 7,
    message: /already used by inboundConnectors\[0\]/,
  },
  {
    name: 'rejects two outbound connectors with the same name',
    yaml: `outboundConnectors:\n${ON_PREM_OUT}${ON_PREM_OUT}`,
    path: 'outboundConnectors[1].name',
    line: 7,
    message: /already used/,
  },
  {
    name: 'rejects an outbound connector with neither smartHosts nor useMxRecord',
    yaml: `outboundConnectors:\n  - { name: out, allAcceptedDomains: true }\n`,
    path: 'outboundConnectors[0]',
    line: 6,
    message: /smartHosts or useMxRecord: true\. In EOP's words, SmartHosts "specifies the smart hosts the Outbound connector uses to route mail\. This parameter is required if you set the UseMxRecord parameter to \$false"; .*add useMxRecord: true/,
  },
  {
    name: 'rejects allAcceptedDomains on a connector that says connectorType: Partner',
    yaml: `outboundConnectors:\n  - name: out\n    connectorType: Partner\n    allAcceptedDomains: true\n    smartHosts: [a.test]\n`,
    path: 'outboundConnectors[0].allAcceptedDomains',
    line: 8,
    message: /only valid on an OnPremises outbound connector .*set connectorType: OnPremises/,
  },
  {
    name: 'rejects an outbound connector with both smartHosts and useMxRecord',
    yaml: `outboundConnectors:\n  - name: out\n    allAcceptedDomains: true\n    smartHosts: [a.test]\n    useMxRecord: true\n`,
    path: 'outboundConnectors[0].useMxRecord',
    line: 9,
    message: /mutually exclusive/,
  },
  {
    name: 'rejects an outbound connector that no recipient can reach',
    yaml: `outboundConnectors:\n  - { name: out, smartHosts: [a.test] }\n`,
    path: 'outboundConnectors[0]',
    line: 6,
    message: /allAcceptedDomains: true, recipientDomains or isTransportRuleScoped/,
  },
  {
    name: 'rejects tlsDomain without tlsSettings DomainValidation',
    yaml: `outboundConnectors:\n  - name: out\n    recipientDomains: [fabrikam.test]\n    useMxRecord: true\n    tlsSettings: CertificateValidation\n    tlsDomain: mx.fabrikam.test\n`,
    path: 'outboundConnectors[0].tlsDomain',
    line: 10,
    message: /DomainValidation/,
  },
  {
    name: 'rejects tlsCert without tlsKey',
    yaml: `outboundConnectors:\n  - name: out\n    recipientDomains: ["*"]\n    useMxRecord: true\n    tlsCert: certs/client.crt\n`,
    path: 'outboundConnectors[0].tlsCert',
    line: 9,
    message: /needs tlsKey/,
  },
  {
    name: 'rejects an OnPremises inbound connector with neither senderIPAddresses nor a certificate name',
    yaml: `inboundConnectors:\n  - { name: in, connectorType: OnPremises, senderDomains: [contoso.test] }\n`,
    path: 'inboundConnectors[0]',
    line: 6,
    message: /senderIPAddresses or tlsSenderCertificateName/,
  },
  {
    name: 'rejects a Partner inbound connector that identifies nobody',
    yaml: `inboundConnectors:\n  - { name: in, connectorType: Partner, requireTls: true }\n`,
    path: 'inboundConnectors[0]',
    line: 6,
    message: /senderDomains naming a domain/,
  },
  {
    name: 'rejects restrictDomainsToCertificate without tlsSenderCertificateName',
    yaml: `inboundConnectors:\n  - name: in\n    senderIPAddresses: [10.0.0.5]\n    restrictDomainsToCertificate: true\n`,
    path: 'inboundConnectors[0].restrictDomainsToCertificate',
    line: 8,
    message: /needs tlsSenderCertificateName/,
  },
  {
    name: 'rejects restrictDomainsToIPAddresses without senderIPAddresses',
    yaml: `inboundConnectors:\n  - name: in\n    tlsSenderCertificateName: mail.contoso.test\n    restrictDomainsToIPAddresses: true\n`,
    path: 'inboundConnectors[0].restrictDomainsToIPAddresses',
    line: 8,
    message: /needs senderIPAddresses/,
  },
  {
    name: 'rejects certificate matching when server.tls.clientCa is empty',
    base: BASE.replace(', clientCa: [certs/ca.crt]', ''),
    yaml: `inboundConnectors:\n  - name: in\n    tlsSenderCertificateName: mail.contoso.test\n`,
    path: 'inboundConnectors[0].tlsSenderCertificateName',
    line: 7,
    message: /server\.tls\.clientCa/,
  },
  {
    name: 'rejects an accepted domain listed twice in different case',
    yaml: `acceptedDomains:\n  - { domain: contoso.test }\n  - { domain: CONTOSO.test }\n`,
    path: 'acceptedDomains[1].domain',
    line: 7,
    message: /already listed at acceptedDomains\[0\]/,
  },
  {
    name: 'rejects a wildcard accepted domain',
    yaml: `acceptedDomains:\n  - { domain: "*.contoso.test" }\n`,
    path: 'acceptedDomains[0].domain',
    line: 6,
    message: /not a valid accepted domain/,
  },
  {
    name: 'rejects an associated accepted domain that is not accepted',
    yaml: `acceptedDomains: [{ domain: contoso.test }]\ninboundConnectors:\n  - name: in\n    senderIPAddresses: [10.0.0.5]\n    associatedAcceptedDomains: [contoso.test, fabrikam.test]\n`,
    path: 'inboundConnectors[0].associatedAcceptedDomains[1]',
    line: 9,
    message: /"fabrikam\.test" is not an accepted domain/,
  },
  {
    name: 'rejects an initial retry interval longer than the maximum',
    yaml: `delivery:\n  retry: { initial: 2h, max: 1h }\n`,
    path: 'delivery.retry.initial',
    line: 6,
    message: /longer than retry\.max/,
  },
  {
    name: 'rejects a greeting delay as long as the idle timeout, which would drop every polite client',
    yaml: `  limits:\n    idleTimeout: 10s\n    greetingDelay: 10s\n`,
    path: 'server.limits.greetingDelay',
    line: 7,
    message: /shorter than idleTimeout/,
  },
  {
    name: 'rejects a bare "*" as a certificate name',
    yaml: `inboundConnectors:\n  - { name: in, tlsSenderCertificateName: "*" }\n`,
    path: 'inboundConnectors[0].tlsSenderCertificateName',
    line: 6,
    message: /too broad/,
  },
];

describe('cross-field rules', () => {
  for (const r of rules) {
    it(r.name, () => {
      const issues = issuesOf((r.base ?? BASE) + r.yaml);
      assert.deepEqual(
        issues.map((i) => [i.path, i.line]),
        [[r.path, r.line]],
      );
      assert.match(issues[0]?.message ?? '', r.message);
    });
  }

  it('accepts a Partner connector identified by its sender domains alone', () => {
    const yaml = `inboundConnectors:\n  - { name: Woodgrove, connectorType: Partner, senderDomains: [woodgrovebank.test], requireTls: true }\n`;
    assert.deepEqual(issuesOf(BASE + yaml), []);
  });

  it('accepts a transport-rule-scoped outbound connector without recipient domains', () => {
    const yaml = `outboundConnectors:\n  - { name: Scoped, isTransportRuleScoped: true, smartHosts: [a.test] }\n`;
    assert.deepEqual(issuesOf(BASE + yaml), []);
  });

  it('warns, and still loads, allAcceptedDomains on a connector that leaves connectorType out (EOP default Partner)', () => {
    const yaml = `outboundConnectors:\n  - name: out\n    allAcceptedDomains: true\n    smartHosts: [a.test]\n`;
    const { model, warnings } = loadConfigTextWithWarnings(BASE + yaml, 'rules.yaml');
    assert.deepEqual(
      warnings.map((w) => [w.file, w.path, w.line]),
      [['rules.yaml', 'outboundConnectors[0].allAcceptedDomains', 7]],
    );
    assert.match(warnings[0]?.message ?? '', /defaults to Partner.*add connectorType: OnPremises/);
    assert.equal(model.outboundConnectors[0]?.connectorType, 'Partner', 'the omitted type is still Partner, as in EOP');
    assert.equal(model.outboundConnectors[0]?.allAcceptedDomains, true, 'and the connector works as before');
  });

  it('warns when rejectDirectSend is on but an unrestricted Partner connector for "*" exempts every sender', () => {
    const partner = (flags: string) => `inboundConnectors:\n  - { name: Any partner, senderDomains: ["*"], senderIPAddresses: [192.0.2.1]${flags} }\n`;
    const on = 'organization: { rejectDirectSend: true }\n';
    const open = loadConfigTextWithWarnings(BASE + on + partner(''), 'rules.yaml').warnings;
    assert.deepEqual(open.map((w) => [w.path, w.line]), [['organization.rejectDirectSend', 5]]);
    assert.match(open[0]?.message ?? '', /Partner connector "Any partner" claims every sender domain/);
    assert.deepEqual(loadConfigTextWithWarnings(BASE + on + partner(', restrictDomainsToIPAddresses: true'), 'rules.yaml').warnings, []);
    assert.deepEqual(loadConfigTextWithWarnings(BASE + partner(''), 'rules.yaml').warnings, [], 'switch off: nothing to warn about');
  });

  it('has no warnings for an OnPremises allAcceptedDomains connector', () => {
    assert.deepEqual(loadConfigTextWithWarnings(`${BASE}outboundConnectors:\n${ON_PREM_OUT}`, 'rules.yaml').warnings, []);
  });

  it('reports every broken rule of one config together', () => {
    const yaml = `inboundConnectors:\n${ON_PREM_IN}${ON_PREM_IN}outboundConnectors:\n  - { name: out }\n`;
    assert.deepEqual(
      issuesOf(BASE + yaml).map((i) => i.path),
      ['inboundConnectors[1].name', 'outboundConnectors[0]', 'outboundConnectors[0]'],
    );
  });
});
