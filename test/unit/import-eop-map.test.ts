// The EOP object mappers as tables: an exported object in, the Sluice entry and the properties
// reported as not imported out. Metadata (RunspaceId, Identity, WhenChanged...) is never reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ImportNote, PathComment } from '../../src/import/eop-props.js';
import { mapInbound, mapOutbound } from '../../src/import/map-connectors.js';
import { mapAcceptedDomain, mapConnectionFilter } from '../../src/import/map-domains.js';
import { mapTransportRule } from '../../src/import/map-rules.js';
import { buildConfig } from '../../src/import/build-config.js';

type Mapper = (obj: unknown, notes: ImportNote[]) => unknown;
const META = { RunspaceId: 'x', PSComputerName: 'outlook.office365.com', Identity: 'x', Guid: 'x', WhenChanged: '/Date(1)/', IsValid: true };
const comments: PathComment[] = [];
const inbound: Mapper = (o, n) => mapInbound(o, 0, n);
const outbound: Mapper = (o, n) => mapOutbound(o, 0, n);
const domain: Mapper = (o, n) => mapAcceptedDomain(o, 0, n, comments);
const rule: Mapper = (o, n) => mapTransportRule(o, 0, n, comments);

const cases: { name: string; map: Mapper; input: Record<string, unknown>; expected: unknown; reported?: string[] }[] = [
  {
    name: 'an OnPremises inbound connector by IP keeps its name, comment and settings',
    map: inbound,
    input: { ...META, Name: 'On-prem', Comment: 'relay', ConnectorType: 1, SenderDomains: ['smtp:*;1'], SenderIPAddresses: ['10.0.0.0/24'], RequireTls: false, ConnectorSource: 0 },
    expected: { name: 'On-prem', enabled: true, connectorType: 'OnPremises', comment: 'relay', senderDomains: ['*'], senderIPAddresses: ['10.0.0.0/24'], requireTls: false },
  },
  {
    name: 'an inbound connector with TrustedOrganizations and ScanAndDropRecipients reports both',
    map: inbound,
    input: { Name: 'P', ConnectorType: 'Partner', SenderDomains: ['smtp:fabrikam.com;1'], TrustedOrganizations: ['fabrikam.com'], ScanAndDropRecipients: ['a@contoso.com'] },
    expected: { name: 'P', enabled: true, connectorType: 'Partner', senderDomains: ['fabrikam.com'] },
    reported: ['TrustedOrganizations', 'ScanAndDropRecipients'],
  },
  {
    name: 'enhanced filtering settings map to camelCase keys; EFTestMode and TreatMessagesAsInternal on a Partner connector are reported',
    map: inbound,
    input: { Name: 'EF', SenderIPAddresses: ['192.0.2.1'], EFSkipLastIP: true, EFSkipIPs: ['192.0.2.1'], EFUsers: ['a@contoso.com'], EFTestMode: true, TreatMessagesAsInternal: true },
    expected: { name: 'EF', enabled: true, senderIPAddresses: ['192.0.2.1'], efSkipLastIP: true, efSkipIPs: ['192.0.2.1'], efUsers: ['a@contoso.com'] },
    reported: ['TreatMessagesAsInternal', 'EFTestMode'],
  },
  {
    name: 'TreatMessagesAsInternal maps on an OnPremises connector',
    map: inbound,
    input: { Name: 'Int', ConnectorType: 'OnPremises', SenderIPAddresses: ['192.0.2.1'], TreatMessagesAsInternal: true },
    expected: { name: 'Int', enabled: true, connectorType: 'OnPremises', senderIPAddresses: ['192.0.2.1'], treatMessagesAsInternal: true },
    reported: [],
  },
  {
    name: 'a connector made by the Hybrid Configuration Wizard is reported (ConnectorSource)',
    map: inbound,
    input: { Name: 'HCW', ConnectorType: 'OnPremises', TlsSenderCertificateName: 'mail.contoso.com', ConnectorSource: 'HybridWizard', CloudServicesMailEnabled: true },
    expected: { name: 'HCW', enabled: true, connectorType: 'OnPremises', cloudServicesMailEnabled: true, tlsSenderCertificateName: 'mail.contoso.com' },
    reported: ['ConnectorSource'],
  },
  {
    name: 'a property no cmdlet page lists is reported, not dropped',
    map: inbound,
    input: { Name: 'X', SenderIPAddresses: ['192.0.2.1'], SomeFutureSetting: 'on', EmptyFutureSetting: [] },
    expected: { name: 'X', enabled: true, senderIPAddresses: ['192.0.2.1'] },
    reported: ['SomeFutureSetting'],
  },
  {
    name: 'an outbound connector without smart hosts gets useMxRecord, as EOP defaults',
    map: outbound,
    input: { Name: 'MX', RecipientDomains: ['fabrikam.com'], SmartHosts: [], TlsSettings: 2, IsValidated: true, LastValidationTimestamp: '/Date(1)/' },
    expected: { name: 'MX', enabled: true, recipientDomains: ['fabrikam.com'], useMxRecord: true, tlsSettings: 'CertificateValidation' },
  },
  {
    name: 'an outbound TlsDomain without DomainValidation is reported, as EOP ignores it',
    map: outbound,
    input: { Name: 'T', RecipientDomains: ['*'], SmartHosts: ['mx.example'], UseMXRecord: false, TlsSettings: 'EncryptionOnly', TlsDomain: 'mx.example' },
    expected: { name: 'T', enabled: true, recipientDomains: ['*'], smartHosts: ['mx.example'], tlsSettings: 'EncryptionOnly' },
    reported: ['TlsDomain'],
  },
  {
    name: 'centralized mail transport and sender rewriting are reported',
    map: outbound,
    input: { Name: 'C', ConnectorType: 'OnPremises', AllAcceptedDomains: true, SmartHosts: ['mail.contoso.com'], RouteAllMessagesViaOnPremises: true, SenderRewritingEnabled: true },
    expected: { name: 'C', enabled: true, connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: ['mail.contoso.com'] },
    reported: ['RouteAllMessagesViaOnPremises', 'SenderRewritingEnabled'],
  },
  { name: 'an InternalRelay domain given by number', map: domain, input: { ...META, Name: 'fabrikam.com', DomainName: 'fabrikam.com', DomainType: 2, AuthenticationType: 'Managed' }, expected: { domain: 'fabrikam.com', type: 'InternalRelay' } },
  { name: 'an ExternalRelay domain is not imported and reported', map: domain, input: { DomainName: 'relay.example', DomainType: 'ExternalRelay' }, expected: null, reported: ['DomainType'] },
  { name: 'MatchSubDomains is reported', map: domain, input: { DomainName: 'contoso.com', DomainType: 0, MatchSubDomains: true }, expected: { domain: 'contoso.com', type: 'Authoritative' }, reported: ['MatchSubDomains'] },
  {
    name: 'a rule keeps conditions, exceptions and actions in camelCase with sizes in MB',
    map: rule,
    input: { ...META, Name: 'R', Priority: 2, State: 'Enabled', Mode: 3, FromScope: 1, AttachmentSizeOver: '5 MB (5,242,880 bytes)', ExceptIfSentTo: ['ceo@contoso.com'], PrependSubject: '[ext] ', RuleErrorAction: 'Ignore', Description: 'If...' },
    expected: { name: 'R', priority: 2, state: 'Enabled', mode: 'Enforce', fromScope: 'NotInOrganization', attachmentSizeOver: '5MB', exceptIfSentTo: ['ceo@contoso.com'], prependSubject: '[ext] ' },
  },
  {
    name: 'a rule that loses a condition is written Disabled, never broader and enforced',
    map: rule,
    input: { Name: 'R', State: 'Enabled', Mode: 'Enforce', HasSenderOverride: true, DeleteMessage: true },
    expected: { name: 'R', state: 'Disabled', mode: 'Enforce', deleteMessage: true },
    reported: ['HasSenderOverride', 'State'],
  },
  {
    name: 'AuditAndNotify is imported as Audit and said so',
    map: rule,
    input: { Name: 'R', State: 1, Mode: 'AuditAndNotify', SenderDomainIs: ['fabrikam.com'] },
    expected: { name: 'R', state: 'Disabled', mode: 'Audit', senderDomainIs: ['fabrikam.com'] },
    reported: ['Mode'],
  },
];

for (const c of cases) {
  test(c.name, () => {
    const notes: ImportNote[] = [];
    assert.deepEqual(c.map(c.input, notes), c.expected);
    assert.deepEqual(notes.map((n) => n.property), c.reported ?? []);
  });
}

test('the connection filter maps its IP lists and reports EnableSafeList', () => {
  const notes: ImportNote[] = [];
  const cf = mapConnectionFilter([{ Name: 'Default', IsDefault: true, IPAllowList: ['192.0.2.0/24'], IPBlockList: [], EnableSafeList: true, DirectoryBasedEdgeBlockMode: 'Default' }], notes);
  assert.deepEqual(cf, { ipAllowList: ['192.0.2.0/24'], ipBlockList: [] });
  assert.deepEqual(notes.map((n) => n.property), ['EnableSafeList']);
});

test('routing precedence puts wildcard before allAcceptedDomains, with the reason as a comment', () => {
  const r = buildConfig({ inbound: null, outbound: null });
  assert.deepEqual((r.config.routing as { precedence: string[] }).precedence, ['exact', 'wildcard', 'allAcceptedDomains']);
  assert.match(r.comments.find((c) => c.path[0] === 'routing')!.text, /most specific connector possible/);
});

test('rules are written in EOP priority order', () => {
  const r = buildConfig({ inbound: null, outbound: null, transportRules: [{ Name: 'second', Priority: 1 }, { Name: 'first', Priority: 0 }] });
  assert.deepEqual((r.config.transportRules as { name: string }[]).map((x) => x.name), ['first', 'second']);
});

test('notes of an accepted domain that is not imported move to the list', () => {
  const r = buildConfig({ inbound: null, outbound: null, acceptedDomains: [{ DomainName: 'x.example', DomainType: 1 }, { DomainName: 'contoso.com' }] });
  assert.deepEqual(r.config.acceptedDomains, [{ domain: 'contoso.com', type: 'Authoritative' }]);
  assert.deepEqual(r.notes.map((n) => n.path), [['acceptedDomains']]);
});
