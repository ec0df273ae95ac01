// Where a session's time goes: N parallel clients, one message per connection (as smtp-source
// sends), each timing every step from its command to the reply — connect → greeting, EHLO, MAIL,
// RCPT, DATA, end of data → 250, QUIT — against Sluice (bench/sluice-relay.ts) relaying to smtp-sink.
// A step that grows with the number of sessions while the others stay small is waiting for the
// relay's main thread, not for the disk.
//
//   node dist/bench/session-phases.js            (PHASE_SESSIONS=1,5,20 PHASE_MESSAGES=2000)
import net from 'node:net';
import { startSluiceRelay } from './sluice-relay.js';
import { startSmtpSink } from './tools.js';

const STEPS = ['greeting', 'EHLO', 'MAIL', 'RCPT', 'DATA', 'end of data', 'QUIT'] as const;
const BODY = 'Subject: phases\r\nFrom: a@example.org\r\nTo: b@contoso.com\r\n\r\n' + ('x'.repeat(78) + '\r\n').repeat(125) + '.\r\n';
const COMMANDS = ['EHLO client.example.org\r\n', 'MAIL FROM:<a@example.org>\r\n', 'RCPT TO:<b@contoso.com>\r\n', 'DATA\r\n', BODY, 'QUIT\r\n'];
const SESSION_TIMEOUT_MS = 30_000;

/** One session; pushes each step's milliseconds into `times`. */
function session(port: number, times: number[][]): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.setNoDelay(true);
    const timer = setTimeout(() => s.destroy(new Error('session timed out')), SESSION_TIMEOUT_MS);
    let buf = '';
    let step = 0;
    let t = performance.now();
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      // A reply is complete at a line whose fourth character is a space (the last line of a multi-line reply).
      const lines = buf.split('\r\n');
      const last = lines[lines.length - 2];
      if (!last || last[3] === '-') return;
      buf = '';
      const now = performance.now();
      times[step]!.push(now - t);
      t = now;
      if (step < COMMANDS.length) s.write(COMMANDS[step]!);
      step++;
      if (step > COMMANDS.length) {
        clearTimeout(timer);
        s.end();
        resolve();
      }
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1] ?? NaN;

async function main(): Promise<void> {
  const sessions = (process.env.PHASE_SESSIONS ?? '1,5,20').split(',').map(Number);
  const messages = Number(process.env.PHASE_MESSAGES ?? 2000);
  const sink = await startSmtpSink();
  const relay = await startSluiceRelay({ sinkPort: sink.port, configPatch: { trace: { enabled: false } } });
  try {
    console.log(`| sessions | msg/s | ${STEPS.join(' | ')} | (median ms per step) |`);
    console.log(`|---:|---:|${STEPS.map(() => '---:').join('|')}|---|`);
    for (const c of sessions) {
      const times = STEPS.map(() => [] as number[]);
      let started = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: c }, async () => {
          while (started++ < messages) await session(relay.port, times);
        }),
      );
      const rate = (messages / (performance.now() - t0)) * 1000;
      console.log(`| ${c} | ${rate.toFixed(0)} | ${times.map((x) => median(x).toFixed(2)).join(' | ')} | |`);
    }
  } finally {
    await relay.stop();
    await sink.stop();
  }
}

await main();
