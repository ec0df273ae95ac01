// Spool ownership and registry decisions as tables (lease-rules.ts, registry-rules.ts): expired?
// adopt? start on my spool? renew first after an outage? a live twin of my node id?
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { homeStart, leaseLapsed, lostTo, mayAdopt, offlineStart, type DbView, type LeaseRow } from '../../../src/cluster/lease-rules.js';
import { clusterStatus, connectionsByConnector, mayRegister, nodeAlive, type NodeRow } from '../../../src/cluster/registry-rules.js';

const TTL = 30_000;
const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);
const UP_LONG = NOW - 3_600_000;
const lease = (p: Partial<LeaseRow> = {}): LeaseRow => ({ spoolId: 's-a', homeNode: 'a', ownerNode: 'a', ownerInstance: 'i-a', epoch: 3, state: 'held', expiresAt: NOW - 1, ...p });
const db = (p: Partial<DbView> = {}): DbView => ({ now: NOW, postmasterStart: UP_LONG, reachableSince: UP_LONG, ttlMs: TTL, ...p });

test('leaseLapsed: past its expiry and the database up a full TTL', () => {
  const rows: [string, LeaseRow, Partial<DbView>, boolean][] = [
    ['expired, database up for an hour', lease(), {}, true],
    ['not yet expired', lease({ expiresAt: NOW + 1 }), {}, false],
    ['expires exactly now', lease({ expiresAt: NOW }), {}, false],
    ['expired, but the database restarted 10 s ago (owners renew first)', lease(), { postmasterStart: NOW - 10_000 }, false],
    ['expired, database restarted exactly a TTL ago', lease(), { postmasterStart: NOW - TTL }, true],
    ['released leases never lapse', lease({ state: 'released' }), {}, false],
  ];
  for (const [name, row, view, want] of rows) assert.equal(leaseLapsed(row, db(view)), want, name);
});

test('mayAdopt: only a lapsed lease of another replica, after a full TTL of our own reach, with no heartbeat', () => {
  const rows: [string, LeaseRow | null, Partial<DbView>, boolean, boolean, RegExp?][] = [
    ['dead owner, everything quiet', lease(), {}, false, true],
    ['no lease row', null, {}, false, false, /no lease row/],
    ['ours already', lease({ ownerNode: 'b' }), {}, false, false, /already ours/],
    ['held until later', lease({ expiresAt: NOW + 5_000 }), {}, false, false, /held by a until/],
    ['handed back to its home', lease({ state: 'released' }), {}, false, false, /handed back to a/],
    ['database restarted 5 s ago', lease(), { postmasterStart: NOW - 5_000 }, false, false, /database restarted/],
    ['we reached the database again 5 s ago', lease(), { reachableSince: NOW - 5_000 }, false, false, /reached the database again/],
    ['we reached it again exactly a TTL ago', lease(), { reachableSince: NOW - TTL }, false, true],
    ['owner still beats (renewal stuck, process alive)', lease(), {}, true, false, /still sends heartbeats/],
  ];
  for (const [name, row, view, ownerAlive, want, reason] of rows) {
    const v = mayAdopt(row, 'b', db(view), ownerAlive);
    assert.equal(v.adopt, want, name);
    if (!v.adopt && reason) assert.match(v.reason, reason, name);
  }
});

test('homeStart: insert, claim our own or a handed-back lease, refuse a live adopter', () => {
  const rows: [string, LeaseRow | null, Partial<DbView>, boolean, ReturnType<typeof homeStart> | string][] = [
    ['first start', null, {}, false, 'insert'],
    ['our lease from the last run (crash)', lease({ expiresAt: NOW + 20_000 }), {}, false, 'claim'],
    ['handed back to us', lease({ ownerNode: 'a', state: 'released' }), {}, false, 'claim'],
    ['handed back to another home', lease({ homeNode: 'c', ownerNode: 'c', state: 'released' }), {}, false, 'refuse:c'],
    ['adopted by b, b alive', lease({ ownerNode: 'b', epoch: 4, expiresAt: NOW + 20_000 }), {}, true, 'refuse:b'],
    ['adopted by b, lease lapsed but b still beats', lease({ ownerNode: 'b' }), {}, true, 'refuse:b'],
    ['adopted by b, b dead too', lease({ ownerNode: 'b' }), {}, false, 'claim'],
    ['adopted by b, lapsed only because the database just restarted', lease({ ownerNode: 'b' }), { postmasterStart: NOW - 1_000 }, false, 'refuse:b'],
  ];
  for (const [name, row, view, ownerAlive, want] of rows) {
    const v = homeStart(row, 'a', db(view), ownerAlive);
    assert.equal(typeof v === 'object' ? `refuse:${v.holder}` : v, want, name);
  }
  const refusal = homeStart(lease({ ownerNode: 'b', epoch: 4, expiresAt: NOW + 1 }), 'a', db(), true);
  assert.ok(typeof refusal === 'object' && /adopted by b \(epoch 4\)/.test(refusal.reason));
});

test('offlineStart: the last lease recorded in the spool decides while PostgreSQL is down', () => {
  assert.equal(offlineStart(null, 'a'), 'use');
  assert.equal(offlineStart({ spoolId: 's', owner: 'a', epoch: 2, state: 'held' }, 'a'), 'use');
  assert.equal(offlineStart({ spoolId: 's', owner: 'a', epoch: 5, state: 'released' }, 'a'), 'use');
  const v = offlineStart({ spoolId: 's', owner: 'b', epoch: 3, state: 'held' }, 'a');
  assert.ok(typeof v === 'object' && v.holder === 'b' && /epoch 3/.test(v.reason));
});

test('lostTo names who holds a lease we could not renew', () => {
  assert.equal(lostTo(lease({ ownerNode: 'b' })), 'b');
  assert.equal(lostTo(lease({ state: 'released' })), 'a (handed back)');
  assert.match(lostTo(null), /gone/);
});

const node = (p: Partial<NodeRow> = {}): NodeRow => ({
  nodeId: 'a', instanceId: 'i-old', host: 'h1', pid: 100, startTicks: 5, bootId: 'boot-1', startedAt: NOW - 60_000,
  lastHeartbeat: NOW - 1_000, state: 'running', ttlMs: TTL, spoolId: 's-a', queueDepth: 2, connections: {}, ...p,
});
const me = { nodeId: 'a', instanceId: 'i-new', host: 'h1', bootId: 'boot-1' };

test('mayRegister: a live twin refuses; a dead, stopped or crashed-here predecessor does not', () => {
  const rows: [string, NodeRow, typeof me, boolean, boolean][] = [
    ['live twin on another host', node({ host: 'h2' }), me, true, false],
    ['live twin on this host, its process running', node(), me, true, false],
    ['crashed on this host moments ago (pid gone)', node(), me, false, true],
    ['same host name, another boot (a clone): not ours to judge', node({ bootId: 'boot-0' }), me, false, false],
    ['heartbeat older than the TTL', node({ lastHeartbeat: NOW - TTL - 1, host: 'h2' }), me, true, true],
    ['stopped cleanly', node({ state: 'stopped', host: 'h2' }), me, true, true],
    ['our own row', node({ instanceId: 'i-new', host: 'h2' }), me, true, true],
  ];
  for (const [name, row, who, alive, want] of rows) {
    const v = mayRegister(row, who, NOW, () => alive);
    assert.equal(v.take, want, name);
    if (!v.take) assert.match(v.reason, /in use by a live replica \(pid 100/, name);
  }
});

test('clusterStatus: one object per replica, alive or dead, with its lease and adopted spools', () => {
  const nodes = [node({ nodeId: 'b', spoolId: 's-b', instanceId: 'i-b', connections: { 'To on-prem': { open: 2, busy: 1 } } }), node({ lastHeartbeat: NOW - 40_000 })];
  const leases = [
    { spoolId: 's-a', homeNode: 'a', ownerNode: 'b', epoch: 4, expiresAt: NOW + 20_000, state: 'held' },
    { spoolId: 's-b', homeNode: 'b', ownerNode: 'b', epoch: 1, expiresAt: NOW + 25_000, state: 'held' },
  ];
  const out = clusterStatus(nodes, leases, NOW);
  assert.deepEqual(out.map((n) => [n.nodeId, n.state]), [['a', 'dead'], ['b', 'alive']]);
  assert.deepEqual(out[0]!.spoolLease, { spoolId: 's-a', owner: 'b', epoch: 4, expiresAt: new Date(NOW + 20_000).toISOString(), state: 'held' });
  assert.deepEqual(out[0]!.adopted, []);
  assert.deepEqual(out[1]!.adopted.map((a) => a.spoolId), ['s-a']);
  assert.deepEqual(out[1]!.connections, { 'To on-prem': { open: 2, busy: 1 } });
  assert.equal(nodeAlive(node({ lastHeartbeat: NOW - TTL }), NOW), false);
});

test('connectionsByConnector sums the pools of one connector', () => {
  assert.deepEqual(
    connectionsByConnector([
      { connector: 'x', open: 1, busy: 1 },
      { connector: 'x', open: 2, busy: 0 },
      { connector: 'y', open: 1, busy: 0 },
    ]),
    { x: { open: 3, busy: 1 }, y: { open: 1, busy: 0 } },
  );
});
