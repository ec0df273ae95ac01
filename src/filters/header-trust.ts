// The header trust boundary (stage headerTrust, the last stage; EOP's retained service headers).
// Organisation headers (X-MS-Exchange-Organization-*) say what Exchange decided about a message;
// only our own servers may send them. From anonymous and Partner sessions they are removed, and
// so are cross-premises headers (a hybrid Exchange would promote those); on-premises sessions
// keep theirs. Sluice then stamps its own view: AuthAs, AuthSource, MessageDirectionality, and
// SCL when a spam verdict exists. Where mail leaves, delivery/outgoing/org-headers.ts applies the
// outbound half of the boundary. Pure: the decision is trustEdits(); the filter wraps it.
import type { ContentContext, Filter, FilterVerdict, HeaderEdit, HeaderField } from './contract.js';
import type { InboundConnector, Model } from '../domain/model.js';
import { CROSS_PREMISES_PREFIX, ORG_PREFIX, isCrossPremisesHeader, isOrgHeader } from '../delivery/outgoing/org-headers.js';

export type AuthAs = 'Anonymous' | 'Partner' | 'Internal';

export interface TrustInput {
  readonly inbound: InboundConnector | null;
  readonly headers: readonly HeaderField[];
  readonly hostname: string;
  readonly scl: number | null;
}

export interface TrustDecision {
  readonly authAs: AuthAs;
  readonly directionality: 'Incoming' | 'Originating';
  readonly edits: HeaderEdit[];
  readonly reason: string;
}

const org = (suffix: string): string => ORG_PREFIX + suffix;

export function trustEdits(input: TrustInput): TrustDecision {
  const { inbound, headers } = input;
  const onPrem = inbound?.connectorType === 'OnPremises';
  const edits: HeaderEdit[] = [];
  const removed = new Set<string>();
  const remove = (name: string) => {
    if (removed.has(name.toLowerCase())) return;
    removed.add(name.toLowerCase());
    edits.push({ op: 'remove', name });
  };
  const received = new Map<string, string>(); // lower-case org header name → value, after promotion
  if (!onPrem) {
    for (const h of headers) if (isOrgHeader(h.name) || isCrossPremisesHeader(h.name)) remove(h.name);
  } else {
    for (const h of headers) if (isOrgHeader(h.name)) received.set(h.name.toLowerCase(), h.value.trim());
    if (inbound?.cloudServicesMailEnabled) {
      // Hybrid: the on-premises Exchange sends its organisation headers as cross-premises headers.
      for (const h of headers) {
        if (!isCrossPremisesHeader(h.name)) continue;
        const name = org(h.name.slice(CROSS_PREMISES_PREFIX.length));
        remove(h.name);
        edits.push({ op: 'set', name, value: h.value.trim() });
        received.set(name.toLowerCase(), h.value.trim());
      }
    }
  }
  const internal = onPrem && inbound?.treatMessagesAsInternal === true;
  const sent = (suffix: string): string | undefined => received.get(org(suffix).toLowerCase());
  let authAs: AuthAs;
  let directionality: 'Incoming' | 'Originating';
  if (!inbound) [authAs, directionality] = ['Anonymous', 'Incoming'];
  else if (!onPrem) [authAs, directionality] = ['Partner', 'Incoming'];
  else if (internal) [authAs, directionality] = ['Internal', 'Originating'];
  else {
    // An on-premises server's own stamps stand; where it sent none, it is our organisation's mail.
    authAs = (['Anonymous', 'Partner', 'Internal'] as const).find((v) => v.toLowerCase() === sent('AuthAs')?.toLowerCase()) ?? 'Internal';
    directionality = sent('MessageDirectionality')?.toLowerCase() === 'incoming' ? 'Incoming' : 'Originating';
  }
  const stamp = (suffix: string, value: string, keepSent: boolean) => {
    if (keepSent && sent(suffix) !== undefined) return;
    edits.push({ op: 'set', name: org(suffix), value });
  };
  const keep = onPrem && !internal;
  stamp('AuthAs', authAs, keep);
  stamp('AuthSource', input.hostname, false);
  stamp('MessageDirectionality', directionality, keep);
  if (input.scl !== null) stamp('SCL', String(input.scl), false);
  const session = !inbound ? 'anonymous' : `${inbound.connectorType} connector "${inbound.name}"`;
  const reason = `${session}: AuthAs ${authAs}, ${directionality}${removed.size ? `, removed ${removed.size} organisation header name(s)` : ''}`;
  return { authAs, directionality, edits, reason };
}

export function headerTrustFilter(): Filter {
  return {
    name: 'header-trust',
    stage: 'headerTrust',
    onError: 'Tempfail',
    content(ctx: ContentContext): FilterVerdict {
      const d = trustEdits({ inbound: ctx.session.inbound, headers: ctx.message.headers, hostname: ctx.model.server.hostname, scl: ctx.facts.scl });
      const removed = d.edits.filter((e) => e.op === 'remove').map((e) => e.name);
      return {
        action: { kind: 'accept' },
        headerEdits: d.edits,
        reason: `${d.reason} (AuthAs ${d.authAs}, ${d.directionality})`,
        // Evidence (and so a trace event) only when the boundary removed something the sender wrote.
        ...(removed.length ? { evidence: { authAs: d.authAs, directionality: d.directionality, removed } } : {}),
      };
    },
  };
}

/** The boundary is not optional: every model gets it. */
export const headerTrustFilters = (_model: Model): Filter[] => [headerTrustFilter()];
