// The filters Sluice has, one factory per filter module. Each factory reads the model and
// returns the filters it enables (none when its section is off); the runner orders them by
// stage (contract.ts STAGES), so the order of this list does not matter.
import type { Filter, FilterFactory } from './contract.js';
import type { Model } from '../domain/model.js';
import { transportRuleFilters } from './transport-rules.js';

export const FILTER_FACTORIES: readonly FilterFactory[] = [
  transportRuleFilters,
];

export function buildFilters(model: Model, factories: readonly FilterFactory[] = FILTER_FACTORIES): Filter[] {
  return factories.flatMap((f) => f(model));
}
