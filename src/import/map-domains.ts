// Pure mapping of `Get-AcceptedDomain` objects to acceptedDomains entries, and of
// `Get-HostedConnectionFilterPolicy` to the connectionFilter section (IP allow and block lists).
import { ACCEPTED_DOMAIN_TYPE } from './eop-enums.js';
import { Props, type ImportNote, type PathComment } from './eop-props.js';
import { bool, enumValue, ipText, isObj, list, prop, show, text } from './eop-values.js';

type Entry = Record<string, unknown>;

/** Directory and sign-in state of an accepted domain: nothing a mail gateway decides with. */
const ACCEPTED_DOMAIN_STATE = [
  'AuthenticationType', 'LiveIdInstanceType', 'PendingRemoval', 'PendingCompletion', 'FederatedOrganizationLink',
  'MailFlowPartner', 'IsCoexistenceDomain', 'InitialDomain', 'PendingFederatedAccountNamespace',
  'PendingFederatedDomain', 'IsDefaultFederatedDomain', 'EnableNego2Authentication', 'PerimeterDuplicateDetected',
  'DualProvisioningEnabled', 'OutboundOnly', 'AddressBookEnabled', 'CatchAllRecipientID', 'SendingFromDomainDisabled',
  'SendingToDomainDisabled', 'HomeRealmRecord',
];

export function mapAcceptedDomain(obj: unknown, index: number, notes: ImportNote[], comments: PathComment[]): Entry | null {
  const path = ['acceptedDomains', index] as const;
  const o = isObj(obj) ? obj : {};
  const name = text(prop(o, 'Name'));
  const domain = text(prop(o, 'DomainName')) ?? name;
  const q = new Props(obj, `accepted domain "${domain ?? index + 1}"`, path, notes);
  q.take('Name');
  q.take('DomainName');
  const rawType = q.take('DomainType');
  const type = rawType === undefined || rawType === null ? 'Authoritative' : enumValue(rawType, ACCEPTED_DOMAIN_TYPE.names, ACCEPTED_DOMAIN_TYPE.numbers);
  if (name && domain && name.toLowerCase() !== domain.toLowerCase()) comments.push({ path, text: ` EOP name: ${name}` });
  if (bool(q.peek('Default'))) comments.push({ path, text: " EOP's default domain (Default: $true)" });
  q.take('Default'); // which domain new mailboxes get: nothing a gateway routes by, kept as the comment above
  q.unsupported('MatchSubDomains', 'Sluice accepts exactly the domains listed; add each subdomain as its own accepted domain');
  q.finish(ACCEPTED_DOMAIN_STATE);
  if (!domain) {
    q.note('DomainName', 'an accepted domain without DomainName was not imported');
    return null;
  }
  if (type === 'ExternalRelay' || type === null) {
    q.note('DomainType', `DomainType ${show(rawType)} is not Authoritative or InternalRelay; the domain was not imported`);
    return null;
  }
  if (domain.startsWith('*.')) {
    q.note('DomainName', `${domain} includes its subdomains, which Sluice's accepted domains do not; imported as ${domain.slice(2)}`);
    return { domain: domain.slice(2), type };
  }
  return { domain, type };
}

/**
 * The tenant has one connection filter policy ("Default"); with several objects the default one
 * (IsDefault) is imported and the others reported.
 */
export function mapConnectionFilter(json: unknown, notes: ImportNote[]): Entry | null {
  const policies = list(json).filter(isObj);
  if (policies.length === 0) return null;
  const chosen = policies.find((x) => bool(x.IsDefault) === true) ?? policies[0]!;
  const path = ['connectionFilter'] as const;
  for (const other of policies.filter((x) => x !== chosen)) {
    notes.push({ path, subject: 'connection filter', property: 'Name', message: `policy "${text(other.Name) ?? '?'}" was not imported: Sluice has one connection filter` });
  }
  const p = new Props(chosen, `connection filter policy "${text(chosen.Name) ?? 'Default'}"`, path, notes);
  p.take('Name');
  p.take('IsDefault');
  const ips = (name: string) => {
    const out: string[] = [];
    for (const v of list(p.take(name))) {
      const s = ipText(v);
      if (s) out.push(s);
      else p.note(name, `${name} value ${show(v)} is not an IP address or range and was not imported`);
    }
    return out;
  };
  const out = { ipAllowList: ips('IPAllowList'), ipBlockList: ips('IPBlockList') };
  p.unsupported('EnableSafeList', "Microsoft's safe list is a third-party reputation list Sluice has no access to; add trusted senders to ipAllowList");
  p.unsupported('DirectoryBasedEdgeBlockMode', 'Sluice accepts only recipients of accepted domains but does not look mailboxes up', (v) => text(v)?.toLowerCase() === 'default');
  p.finish(['ConfigurationXmlRaw']);
  return out;
}
