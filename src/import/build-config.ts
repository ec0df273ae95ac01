// Assembles a whole Sluice config from the parsed EOP exports (pure): the mapped sections, the
// server section an admin must complete (host name, certificates), routing precedence, and the
// notes (unsupported settings) and comments that render-yaml.ts puts into the YAML.
import { objectsOf, type ImportNote, type PathComment } from './eop-props.js';
import { mapInbound, mapOutbound } from './map-connectors.js';
import { mapAcceptedDomain, mapConnectionFilter } from './map-domains.js';
import { mapTransportRule } from './map-rules.js';
import { integer, isObj, prop } from './eop-values.js';

export interface EopExports {
  inbound: unknown;
  outbound: unknown;
  acceptedDomains?: unknown;
  connectionFilter?: unknown;
  transportRules?: unknown;
}

export interface ImportResult {
  config: Record<string, unknown>;
  notes: ImportNote[];
  comments: PathComment[];
}

export const PRECEDENCE_COMMENT = [
  ' EOP "selects the most specific connector possible": in its worked example mail to',
  ' john@sales.contoso.com takes the *.contoso.com connector over the one for all accepted',
  ' domains, although the numbered list in the same article puts "all accepted domains" before',
  ' wildcards. This order gives the worked example\'s result.',
].join('\n');

function acceptedDomains(json: unknown, notes: ImportNote[], comments: PathComment[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  objectsOf(json).forEach((obj) => {
    const [n, c] = [notes.length, comments.length];
    const d = mapAcceptedDomain(obj, out.length, notes, comments);
    if (d) return void out.push(d);
    // Not imported: its notes belong to the list, not to an entry that does not exist.
    for (let i = n; i < notes.length; i++) notes[i] = { ...notes[i]!, path: ['acceptedDomains'] };
    comments.splice(c);
  });
  return out;
}

export function buildConfig(x: EopExports): ImportResult {
  const notes: ImportNote[] = [];
  const comments: PathComment[] = [];
  const inbound = objectsOf(x.inbound).map((o, i) => mapInbound(o, i, notes));
  const outbound = objectsOf(x.outbound).map((o, i) => mapOutbound(o, i, notes));
  const domains = x.acceptedDomains === undefined ? [] : acceptedDomains(x.acceptedDomains, notes, comments);
  const byCert = inbound.some((c) => c.tlsSenderCertificateName !== undefined);
  const config: Record<string, unknown> = {
    server: {
      hostname: 'gateway.example.com',
      listen: [{ host: '0.0.0.0', port: 25 }],
      tls: { cert: 'certs/server.crt', key: 'certs/server.key', ...(byCert ? { clientCa: ['certs/ca.crt'] } : {}) },
    },
    routing: { precedence: ['exact', 'wildcard', 'allAcceptedDomains'] },
    acceptedDomains: domains,
    inboundConnectors: inbound,
    outboundConnectors: outbound,
  };
  comments.push(
    { path: ['server'], text: ' Complete this section: the name this gateway greets with, and its certificate (`sluice certs init` makes test ones).' },
    { path: ['routing'], text: PRECEDENCE_COMMENT },
  );
  if (byCert) {
    comments.push({ path: ['server', 'tls', 'clientCa'], text: ' The CA that issued the certificates named in tlsSenderCertificateName.' });
  }
  if (x.acceptedDomains === undefined) {
    comments.push({ path: ['acceptedDomains'], text: ' No --accepted-domains export given: list the domains this gateway accepts mail for.' });
  }
  if (x.connectionFilter !== undefined) {
    const cf = mapConnectionFilter(x.connectionFilter, notes);
    if (cf) config.connectionFilter = cf;
  }
  if (x.transportRules !== undefined) {
    // Get-TransportRule lists rules by priority already; a hand-made export may not.
    const rules = objectsOf(x.transportRules)
      .map((o, i) => ({ o, i, priority: integer(isObj(o) ? prop(o, 'Priority') : null) ?? Number.MAX_SAFE_INTEGER }))
      .sort((a, b) => a.priority - b.priority || a.i - b.i);
    config.transportRules = rules.map(({ o }, i) => mapTransportRule(o, i, notes, comments));
  }
  return { config, notes, comments };
}

/** One warning line per note: `inbound connector "X": TrustedOrganizations (...) is not supported ...`. */
export function warningLines(notes: readonly ImportNote[]): string[] {
  return notes.map((n) => `${n.subject}: ${n.message}`);
}
