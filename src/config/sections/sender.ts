// Config section: who may send: `connectionFilter`, `senderAuthentication` (issue 9).
// Owns its keys' schema, its part of the runtime Model and the cross-key checks on them, so
// features add config without touching the core schema (schema.ts spreads the keys, compile.ts
// spreads the model part, test/helpers/model-builder.ts uses the defaults).
import { z } from 'zod';
import { compileIpRule, normaliseDomain } from '../../domain/match.js';
import type { IpRule } from '../../domain/model.js';
import type { Config } from '../schema.js';
import { eopEnum, flag, parsed, section } from '../schema-parts.js';
import type { Report } from '../compile.js';

export const DMARC_REJECT_ACTIONS = ['Reject', 'Quarantine'] as const;
export const DMARC_QUARANTINE_ACTIONS = ['Quarantine', 'MoveToJmf'] as const;
export type DmarcRejectAction = (typeof DMARC_REJECT_ACTIONS)[number];
export type DmarcQuarantineAction = (typeof DMARC_QUARANTINE_ACTIONS)[number];

const ipRule = parsed(compileIpRule);
const dnsZone = parsed((v) => {
  const d = normaliseDomain(v.trim());
  if (!d) throw new Error(`"${v}" is not a DNS zone name (e.g. zen.example.org)`);
  return d;
});

/** zod shapes of this section's top-level keys (each may be left out: use `section()`). */
export const senderKeys = {
  connectionFilter: section(
    z
      .object({
        ipAllowList: z.array(ipRule).default([]),
        ipBlockList: z.array(ipRule).default([]),
        dnsBlocklists: z.array(dnsZone).default([]),
      })
      .strict(),
  ),
  senderAuthentication: section(
    z
      .object({
        // Off unless asked for: every check costs DNS queries per message.
        enabled: flag(false),
        honorDmarcPolicy: flag(true),
        dmarcRejectAction: eopEnum(DMARC_REJECT_ACTIONS).default('Reject'),
        dmarcQuarantineAction: eopEnum(DMARC_QUARANTINE_ACTIONS).default('Quarantine'),
      })
      .strict(),
  ),
};

export interface ConnectionFilterModel {
  readonly ipAllowList: readonly IpRule[];
  readonly ipBlockList: readonly IpRule[];
  /** Lower-case zone names, queried in order. */
  readonly dnsBlocklists: readonly string[];
}

export interface SenderAuthenticationModel {
  readonly enabled: boolean;
  readonly honorDmarcPolicy: boolean;
  readonly dmarcRejectAction: DmarcRejectAction;
  readonly dmarcQuarantineAction: DmarcQuarantineAction;
}

/** This section's part of the frozen runtime Model. */
export interface SenderModel {
  readonly connectionFilter: ConnectionFilterModel;
  readonly senderAuthentication: SenderAuthenticationModel;
}

export function compileSender(config: Config, _report: Report, warn: Report): SenderModel {
  const { connectionFilter, senderAuthentication } = config;
  const seen = new Set<string>();
  connectionFilter.dnsBlocklists.forEach((zone, i) => {
    if (seen.has(zone)) warn(['connectionFilter', 'dnsBlocklists', i], `"${zone}" is listed twice`);
    seen.add(zone);
  });
  config.inboundConnectors.forEach((c, i) => {
    if (c.efUsers.length > 0 && !c.efSkipLastIP && c.efSkipIPs.length === 0) {
      warn(['inboundConnectors', i, 'efUsers'], 'efUsers has no effect without efSkipLastIP or efSkipIPs (enhanced filtering is off)');
    }
    if (c.efSkipLastIP && c.efSkipIPs.length > 0) {
      warn(['inboundConnectors', i, 'efSkipIPs'], 'efSkipIPs is ignored while efSkipLastIP is true (EOP skips only the last hop then)');
    }
  });
  return { connectionFilter, senderAuthentication };
}

/** The model part when every key is left out (for hand-built test models). */
export const SENDER_DEFAULTS: SenderModel = {
  connectionFilter: { ipAllowList: [], ipBlockList: [], dnsBlocklists: [] },
  senderAuthentication: { enabled: false, honorDmarcPolicy: true, dmarcRejectAction: 'Reject', dmarcQuarantineAction: 'Quarantine' },
};
