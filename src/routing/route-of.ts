// A recipient's route as the spool records it (RcptState.route), from the routing core: for
// recipients that did not come through RCPT (a filter's redirect or added recipient, a
// quarantine release). Pure.
import type { Model } from '../domain/model.js';
import type { RcptState } from '../queue/record.js';
import { selectRoute } from './select-connector.js';

export function routeOf(model: Model, address: string): RcptState['route'] {
  const r = selectRoute(model, address.slice(address.lastIndexOf('@') + 1));
  return { kind: r.kind, connector: r.kind === 'connector' ? r.connector.name : null, rule: r.rule };
}
