// Tables for what the queue tools show: a message's status (active/deferred/hold/failed), the
// listing line and recipient lines, JSON fields, and the control protocol's request checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SpoolRecord } from '../../src/queue/record.js';
import { queueStatus, type QueueStatus, type SpoolArea } from '../../src/queue/scan.js';
import { formatDuration, jsonEntry, listEntry } from '../../src/cli/queue-format.js';
import { badRequest } from '../../src/queue/control.js';

const NOW = 1_700_000_000_000;

function rec(patch: Partial<SpoolRecord> = {}, rcpt: Partial<SpoolRecord['rcpts'][number]> = {}): SpoolRecord {
  return {
    v: 1,
    id: '018BCFE56800ABCDEF0123',
    receivedAt: NOW - 125_000,
    sessionId: 's1',
    client: { ip: '127.0.0.2', helo: 'onprem', tls: false, inbound: 'On-prem IP', matchedBy: 'ip' },
    mailFrom: 'john@contoso.com',
    size: 1234,
    status: 'active',
    attempts: 0,
    nextAttemptAt: NOW,
    rcpts: [
      {
        address: 'sun@fabrikam.com',
        route: { kind: 'connector', connector: 'To internet', rule: 'wildcard:*' },
        status: 'pending',
        attempts: 0,
        lastError: null,
        lastHost: null,
        updatedAt: NOW,
        ...rcpt,
      },
    ],
    ...patch,
  };
}

const statusRows: { name: string; input: { r: SpoolRecord; area: SpoolArea }; expected: QueueStatus }[] = [
  { name: 'a new message is active', input: { r: rec(), area: 'queue' }, expected: 'active' },
  { name: 'a tried message waiting for its retry is deferred', input: { r: rec({ attempts: 2, nextAttemptAt: NOW + 60_000 }), area: 'queue' }, expected: 'deferred' },
  { name: 'a tried message whose retry is due is active again', input: { r: rec({ attempts: 2, nextAttemptAt: NOW - 1 }), area: 'queue' }, expected: 'active' },
  { name: 'a held message is hold, whatever its attempts', input: { r: rec({ status: 'hold', attempts: 3, nextAttemptAt: NOW + 60_000 }), area: 'queue' }, expected: 'hold' },
  { name: 'anything in failed/ is failed', input: { r: rec({ attempts: 1 }), area: 'failed' }, expected: 'failed' },
];
for (const row of statusRows) {
  test(`status: ${row.name}`, () => assert.equal(queueStatus(row.input.r, row.input.area, NOW), row.expected));
}

const durationRows: [number, string][] = [
  [0, '0s'],
  [59_400, '59s'],
  [60_000, '1m'],
  [3_599_000, '59m'],
  [7_200_000, '2h'],
  [3 * 86_400_000, '3d'],
  [-5_000, '0s'],
];
for (const [ms, expected] of durationRows) test(`duration ${ms} ms reads ${expected}`, () => assert.equal(formatDuration(ms), expected));

test('a deferred message lists as one Postfix-like line and one line per recipient with connector and last error', () => {
  const r = rec({ attempts: 2, nextAttemptAt: NOW + 300_000 }, { lastError: '4.2.0 450 4.2.0 try later\r\n\u001b[31mred', attempts: 2 });
  const lines = listEntry(r, 'deferred', NOW).split('\n');
  assert.match(lines[0]!, /^018BCFE56800ABCDEF0123 +1234 +2m +2 +in 5m +deferred +<john@contoso\.com>$/);
  // Control characters from a remote reply never reach the admin's terminal.
  assert.equal(lines[1], '  <sun@fabrikam.com> pending [To internet] 4.2.0 450 4.2.0 try later [31mred');
});

test('a held message shows no next attempt; a null sender shows as <>; MX routes show as MX', () => {
  const r = rec({ status: 'hold', mailFrom: '' }, { route: { kind: 'mx', connector: null, rule: 'mx:fabrikam.com' } });
  const text = listEntry(r, 'hold', NOW);
  assert.match(text, / - +hold +<>\n/);
  assert.match(text, /\[MX\]/);
  const json = jsonEntry(r, 'hold', NOW);
  assert.equal(json.nextAttemptAt, null);
  assert.equal(json.recipients[0]!.connector, 'MX');
  assert.equal(json.ageSeconds, 125);
});

const requestRows: { name: string; input: unknown; ok: boolean }[] = [
  { name: 'a retry of every message', input: { op: 'retry', all: true }, ok: true },
  { name: 'a hold of a well-formed id', input: { op: 'hold', id: 'ABC123' }, ok: true },
  { name: 'an id that tries to leave the spool', input: { op: 'delete', id: '../../etc/passwd' }, ok: false },
  { name: 'an unknown operation', input: { op: 'flush' }, ok: false },
  { name: 'a hold without an id', input: { op: 'hold' }, ok: false },
  { name: 'not an object', input: 'retry', ok: false },
];
for (const row of requestRows) {
  test(`control request: ${row.name} is ${row.ok ? 'accepted' : 'refused'}`, () => assert.equal(badRequest(row.input) === null, row.ok));
}
