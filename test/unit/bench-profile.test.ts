// Tables for the bench's measuring tools: the .cpuprofile summariser (self and inclusive time,
// owner attribution, time windows) and the strace summary parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarise, type CpuProfile, type ProfileNode } from '../../bench/profile-summary.js';
import { parseStraceSummary } from '../../bench/syscalls.js';

const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 9, columnNumber: 0 });

/**
 * root → send (smtp-server) → writeUtf8String (native); root → loop (sluice) → loop (recursion);
 * root → (idle). Samples are given as leaf ids, one every 1,000 µs from t = 1,000,000 µs.
 */
function profile(leaves: number[]): CpuProfile {
  const nodes: ProfileNode[] = [
    { id: 1, callFrame: frame('(root)'), children: [2, 4, 6] },
    { id: 2, callFrame: frame('send', 'file:///x/node_modules/smtp-server/dist/esm/smtp-connection.js'), children: [3] },
    { id: 3, callFrame: frame('writeUtf8String') },
    { id: 4, callFrame: frame('loop', 'file:///x/dist/src/queue/file-spool.js'), children: [5] },
    { id: 5, callFrame: frame('loop', 'file:///x/dist/src/queue/file-spool.js') },
    { id: 6, callFrame: frame('(idle)') },
  ];
  return { nodes, startTime: 1_000_000, endTime: 1_000_000 + 1_000 * leaves.length, samples: leaves, timeDeltas: leaves.map(() => 1_000) };
}

const count = (rows: { key: string; samples: number }[], prefix: string) => rows.find((r) => r.key.startsWith(prefix))?.samples ?? 0;

const rows: { name: string; leaves: number[]; windows?: [number, number][]; expected: Record<string, number> }[] = [
  {
    name: 'gives a native frame its own self time and its caller the owner share',
    leaves: [3, 3, 3, 6],
    expected: { busy: 3, idle: 1, selfWrite: 3, ownerSend: 3, inclSend: 3, stageReceive: 3 },
  },
  {
    name: 'counts a recursive frame once per sample in inclusive time',
    leaves: [5, 5, 4],
    expected: { busy: 3, idle: 0, selfLoop: 3, inclLoop: 3 },
  },
  {
    name: 'keeps only the samples inside the windows',
    leaves: [3, 3, 5, 5],
    // samples sit at 1,001,000 … 1,004,000 µs: keep the last two
    windows: [[1_002_500, 1_004_000]],
    expected: { busy: 2, idle: 0, selfWrite: 0, selfLoop: 2 },
  },
];

for (const r of rows) {
  test(r.name, () => {
    const s = summarise(profile(r.leaves), r.windows ?? [], 10);
    const got: Record<string, number> = {
      busy: s.busy,
      idle: s.idle,
      selfWrite: count(s.self, 'writeUtf8String'),
      selfLoop: count(s.self, 'loop '),
      ownerSend: count(s.owners, 'send smtp-server/'),
      inclSend: count(s.inclusive, 'send smtp-server/'),
      inclLoop: count(s.inclusive, 'loop '),
      stageReceive: count(s.stages, 'receive: smtp-server'),
    };
    for (const [k, v] of Object.entries(r.expected)) assert.equal(got[k], v, k);
  });
}

test('reads calls per syscall from an strace -c summary, with and without an errors column', () => {
  const text = [
    '% time     seconds  usecs/call     calls    errors syscall',
    '------ ----------- ----------- --------- --------- ----------------',
    ' 90.47   23.710902         293     80911      6346 futex',
    '  6.64    1.741284         754      2308           fsync',
    '------ ----------- ----------- --------- --------- ----------------',
    '100.00   26.208744         196    133437      8284 total',
  ].join('\n');
  assert.deepEqual([...parseStraceSummary(text)], [
    ['futex', 80911],
    ['fsync', 2308],
  ]);
});

test("the yardstick counts smtp-server's own samples and its socket writes, nothing of Sluice", () => {
  // leaves: 2 = smtp-server send (self), 3 = the socket write under it, 5 = Sluice, 6 = idle
  const s = summarise(profile([2, 3, 3, 5, 5, 5, 6]), [], 10);
  assert.equal(s.yardstick, 3);
  assert.equal(s.busy, 6);
});
