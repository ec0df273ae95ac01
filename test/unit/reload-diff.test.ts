// Table tests for the reload diff: which settings an edit changed, and which of them only apply
// at the next restart (status.pendingRestart and the reload log line).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { changedPaths, pendingRestart } from '../../src/config/reload-diff.js';
import type { Model } from '../../src/domain/model.js';
import { buildModel } from '../helpers/model-builder.js';

const base = buildModel({ inboundConnectors: [{ name: 'On-prem', senderIPAddresses: ['10.0.0.0/8'] }] });
const edit = (change: (m: any) => void): Model => {
  const m = structuredClone(base) as any;
  change(m);
  return m as Model;
};

interface Row {
  name: string;
  next: Model;
  changed: string[];
  pending: string[];
}

const rows: Row[] = [
  { name: 'an identical model changes nothing', next: edit(() => undefined), changed: [], pending: [] },
  { name: 'a moved source file alone is no change', next: edit((m) => (m.source = '/elsewhere.yaml')), changed: [], pending: [] },
  {
    name: 'maxMessageSize applies live',
    next: edit((m) => (m.server.limits.maxMessageSize = 1)),
    changed: ['server.limits.maxMessageSize'],
    pending: [],
  },
  {
    name: 'a listen change applies live',
    next: edit((m) => (m.server.listen = [{ host: '127.0.0.1', port: 2525 }])),
    changed: ['server.listen'],
    pending: [],
  },
  { name: 'spool.dir waits for a restart', next: edit((m) => (m.spool.dir = '/var/other')), changed: ['spool.dir'], pending: ['spool.dir'] },
  {
    name: 'generateDevCertificates waits for a restart',
    next: edit((m) => (m.server.tls.generateDevCertificates = true)),
    changed: ['server.tls.generateDevCertificates'],
    pending: ['server.tls.generateDevCertificates'],
  },
  {
    name: 'compiled IP rules (bigints) compare by value',
    next: edit((m) => (m.inboundConnectors[0].senderIPAddresses = [{ ...m.inboundConnectors[0].senderIPAddresses[0], last: 1n }])),
    changed: ['inboundConnectors'],
    pending: [],
  },
];

for (const row of rows) {
  test(row.name, () => {
    assert.deepEqual(changedPaths(base, row.next), row.changed);
    assert.deepEqual(pendingRestart(base, row.next), row.pending);
  });
}
