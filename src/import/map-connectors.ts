// Pure mapping of `Get-InboundConnector` / `Get-OutboundConnector` objects to Sluice's
// inboundConnectors / outboundConnectors entries (schema.ts mirrors the cmdlets' parameters in
// camelCase). Every property is either mapped, reported as unsupported, or is metadata.
import { CONNECTOR_SOURCE, CONNECTOR_TYPE, TLS_SETTINGS } from './eop-enums.js';
import { Props, type ImportNote } from './eop-props.js';
import { addressSpace, bool, enumValue, ipText, list, show, smartHostText, text } from './eop-values.js';

type Entry = Record<string, unknown>;

/** Read-only state Get-OutboundConnector reports (validation runs), not configuration. */
const OUTBOUND_STATE = ['IsValidated', 'LastValidationTimestamp', 'LinkForModifiedConnector'];

function strings(p: Props, name: string, read: (v: unknown) => string | null, what: string): string[] {
  const out: string[] = [];
  for (const v of list(p.take(name))) {
    const s = read(v);
    if (s === null) p.note(name, `${name} value ${show(v)} is not ${what} and was not imported`);
    else out.push(s);
  }
  return out;
}

function flag(p: Props, name: string): boolean | null {
  const v = p.take(name);
  if (v === undefined || v === null) return null;
  const b = bool(v);
  if (b === null) p.note(name, `${name} value ${show(v)} is not true or false and was not imported`);
  return b;
}

/** Name, Enabled, ConnectorType, Comment, CloudServicesMailEnabled and ConnectorSource, common to both directions. */
function common(p: Props, fallbackName: string): Entry {
  const out: Entry = { name: text(p.take('Name')) ?? fallbackName };
  const enabled = flag(p, 'Enabled');
  out.enabled = enabled ?? true;
  const rawType = p.take('ConnectorType');
  const type = enumValue(rawType, CONNECTOR_TYPE.names, CONNECTOR_TYPE.numbers);
  if (type) out.connectorType = type;
  else if (rawType !== undefined && rawType !== null) p.note('ConnectorType', `ConnectorType ${show(rawType)} is not OnPremises or Partner; left out, so Sluice applies EOP's default, Partner`);
  const comment = text(p.take('Comment'));
  if (comment) out.comment = comment;
  if (flag(p, 'CloudServicesMailEnabled')) out.cloudServicesMailEnabled = true;
  const rawSource = p.take('ConnectorSource');
  const source = enumValue(rawSource, CONNECTOR_SOURCE.names, CONNECTOR_SOURCE.numbers) ?? show(rawSource);
  if (rawSource !== undefined && rawSource !== null && source !== 'Default') {
    p.note('ConnectorSource', `ConnectorSource ${source} is not supported by Sluice: it does not track which tool made a connector, and no wizard will update this one`);
  }
  return out;
}

export function mapInbound(obj: unknown, index: number, notes: ImportNote[]): Entry {
  const path = ['inboundConnectors', index] as const;
  const name = text((obj as Entry | null)?.Name) ?? `Inbound connector ${index + 1}`;
  const p = new Props(obj, `inbound connector "${name}"`, path, notes);
  const out = common(p, name);
  const domains = strings(p, 'SenderDomains', addressSpace, 'an SMTP address space');
  if (domains.length) out.senderDomains = domains;
  const ips = strings(p, 'SenderIPAddresses', ipText, 'an IP address or range');
  if (ips.length) out.senderIPAddresses = ips;
  const cert = text(p.take('TlsSenderCertificateName'));
  if (cert) out.tlsSenderCertificateName = cert;
  for (const [eop, key] of [
    ['RequireTls', 'requireTls'],
    ['RestrictDomainsToIPAddresses', 'restrictDomainsToIPAddresses'],
    ['RestrictDomainsToCertificate', 'restrictDomainsToCertificate'],
  ] as const) {
    const b = flag(p, eop);
    if (b !== null) out[key] = b;
  }
  const associated = strings(p, 'AssociatedAcceptedDomains', text, 'a domain');
  if (associated.length) out.associatedAcceptedDomains = associated;
  // Keys the connection filter's branch adds to the schema: written only when EOP has them on.
  // EOP uses TreatMessagesAsInternal only on OnPremises connectors; Sluice refuses it elsewhere.
  if (flag(p, 'TreatMessagesAsInternal')) {
    if (out.connectorType === 'OnPremises') out.treatMessagesAsInternal = true;
    else p.note('TreatMessagesAsInternal', 'TreatMessagesAsInternal (True) applies only to an OnPremises connector and was not imported');
  }
  if (flag(p, 'EFSkipLastIP')) out.efSkipLastIP = true;
  const skipIps = strings(p, 'EFSkipIPs', ipText, 'an IP address or range');
  if (skipIps.length) out.efSkipIPs = skipIps;
  const efUsers = strings(p, 'EFUsers', text, 'an address');
  if (efUsers.length) out.efUsers = efUsers;
  p.unsupported('TrustedOrganizations', 'Sluice has no organization relationships; list the partner in senderDomains instead');
  p.unsupported('EFTestMode', 'Sluice has no test mode for enhanced filtering: efSkipLastIP/efSkipIPs apply for real');
  p.unsupported('EFSkipMailGateway', 'list the gateway addresses in efSkipIPs');
  p.unsupported('ScanAndDropRecipients', 'Sluice never drops a recipient silently; use a transport rule');
  p.unsupported('ClientHostNames', 'Sluice identifies servers by IP address or certificate name');
  p.finish();
  return out;
}

export function mapOutbound(obj: unknown, index: number, notes: ImportNote[]): Entry {
  const path = ['outboundConnectors', index] as const;
  const name = text((obj as Entry | null)?.Name) ?? `Outbound connector ${index + 1}`;
  const p = new Props(obj, `outbound connector "${name}"`, path, notes);
  const out = common(p, name);
  if (flag(p, 'AllAcceptedDomains')) out.allAcceptedDomains = true;
  const domains = strings(p, 'RecipientDomains', addressSpace, 'a domain');
  if (domains.length) out.recipientDomains = domains;
  const hosts = strings(p, 'SmartHosts', smartHostText, 'a host name or IP address');
  const useMx = flag(p, 'UseMXRecord') ?? hosts.length === 0; // EOP's default: MX when no smart host
  if (useMx) {
    out.useMxRecord = true;
    if (hosts.length) p.note('SmartHosts', `SmartHosts (${hosts.join(', ')}) are not used with UseMXRecord $true and were not imported`);
  } else {
    out.smartHosts = hosts;
  }
  const rawTls = p.take('TlsSettings');
  const tls = enumValue(rawTls, TLS_SETTINGS.names, TLS_SETTINGS.numbers);
  if (tls) out.tlsSettings = tls;
  else if (rawTls !== undefined && rawTls !== null) p.note('TlsSettings', `TlsSettings ${show(rawTls)} is not one of ${TLS_SETTINGS.names.join(', ')} and was not imported`);
  const tlsDomain = text(p.take('TlsDomain'));
  if (tlsDomain && tls === 'DomainValidation') out.tlsDomain = tlsDomain;
  else if (tlsDomain) p.note('TlsDomain', `TlsDomain (${tlsDomain}) only applies with TlsSettings DomainValidation, as in EOP, and was not imported`);
  if (flag(p, 'IsTransportRuleScoped')) out.isTransportRuleScoped = true;
  p.unsupported('RouteAllMessagesViaOnPremises', 'centralized mail transport: route internet mail through an outbound connector to the on-premises server instead');
  p.unsupported('SenderRewritingEnabled', 'SRS belongs to organization.senderRewriting (mail-flow rules)');
  p.unsupported('TestMode', 'Sluice has no test mode for outbound connectors');
  p.unsupported('ValidationRecipients', 'Sluice does not run connector validation; try `sluice route`');
  p.unsupported('AllowedOOFType', 'Sluice does not filter automatic replies', (v) => text(v)?.toLowerCase() === 'external');
  p.finish(OUTBOUND_STATE);
  return out;
}
