// Config checks and model building for acceptedDomains[].recipientValidation (Directory-Based
// Edge Blocking) and inboundConnectors[].treatMessagesAsInternal. Called by compile.ts; the list
// file must exist when the config loads, so a typo fails at load time with its key path.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { AcceptedDomain } from '../domain/model.js';
import type { Config } from './schema.js';
import type { Report } from './compile.js';

export function checkRecipientValidation(config: Config, report: Report, warn: Report): void {
  config.acceptedDomains.forEach((d, i) => {
    const rv = d.recipientValidation;
    const at = ['acceptedDomains', i, 'recipientValidation'];
    if (rv.mode === 'List') {
      if (rv.list === null) return report([...at, 'list'], 'mode: List needs list: FILE (one valid address per line)');
      try {
        if (!statSync(resolve(process.cwd(), rv.list)).isFile()) report([...at, 'list'], `"${rv.list}" is not a file`);
      } catch (err) {
        report([...at, 'list'], `cannot read "${rv.list}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    } else if (rv.list !== null) {
      warn([...at, 'list'], `list is only read with mode: List (mode is ${rv.mode})`);
    }
    if (rv.mode !== 'None' && d.type === 'InternalRelay') {
      // InternalRelay domains have recipients outside the organisation's directory by definition.
      warn([...at, 'mode'], 'recipient validation on an InternalRelay domain refuses recipients that exist only beyond it');
    }
  });
}

export function checkTreatAsInternal(config: Config, report: Report): void {
  config.inboundConnectors.forEach((c, i) => {
    if (c.treatMessagesAsInternal && c.connectorType !== 'OnPremises') {
      report(['inboundConnectors', i, 'treatMessagesAsInternal'], 'treatMessagesAsInternal: true is only valid on an OnPremises connector');
    }
  });
}

export function buildAcceptedDomain(d: Config['acceptedDomains'][number]): AcceptedDomain {
  const rv = d.recipientValidation;
  // Left out when off, so a domain without validation compiles as it always did.
  if (rv.mode === 'None') return { domain: d.domain, type: d.type };
  return {
    domain: d.domain,
    type: d.type,
    recipientValidation: { mode: rv.mode, list: rv.list === null ? null : resolve(process.cwd(), rv.list), cacheMs: rv.cache },
  };
}
