// The filters Sluice has, one factory per filter module. Each factory reads the model and
// returns the filters it enables (none when its section is off); the runner orders them by
// stage (contract.ts STAGES), so the order of this list does not matter.
import type { Filter, FilterFactory } from './contract.js';
import type { Model } from '../domain/model.js';
import { connectionFilterFactory } from './connection-filter.js';
import { senderAuthenticationFactory } from './sender-auth.js';
import { malwareFilters } from './malware.js';
import { fileTypesFilters } from './file-types.js';
import { spamFilters } from './spam.js';
import { transportRuleFilters } from './transport-rules.js';
import { headerTrustFilters } from './header-trust.js';

export const FILTER_FACTORIES: readonly FilterFactory[] = [
  connectionFilterFactory,
  senderAuthenticationFactory,
  malwareFilters,
  fileTypesFilters,
  spamFilters,
  transportRuleFilters,
  headerTrustFilters,
];

export function buildFilters(model: Model, factories: readonly FilterFactory[] = FILTER_FACTORIES): Filter[] {
  return factories.flatMap((f) => f(model));
}
