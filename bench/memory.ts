// Memory figures for Sluice: RSS with N concurrent idle sessions (each greeted and past EHLO),
// and the RSS growth while one very large message is relayed end to end (proves streaming).
import type { Socket } from 'node:net';
import { rssBytes, meter } from './procs.js';
import { startSmtpSink } from './tools.js';
import { session, sendOne } from './smtp-client.js';
import { startSluiceRelay } from './sluice-relay.js';

const SETTLE_MS = 1_500;
const OPEN_BATCH = 50;

export interface IdleFigures {
  sessions: number;
  opened: number;
  baseRssBytes: number;
  rssBytes: number;
  error?: string;
}

export async function idleSessions(n: number, timeoutMs: number): Promise<IdleFigures> {
  const sink = await startSmtpSink();
  const sl = await startSluiceRelay({ sinkPort: sink.port });
  const socks: Socket[] = [];
  const deadline = Date.now() + timeoutMs;
  let error: string | undefined;
  try {
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const baseRssBytes = rssBytes({ pid: sl.pid });
    // Open in batches so the listen backlog is never the limit being measured.
    for (let i = 0; i < n && Date.now() < deadline; i += OPEN_BATCH) {
      const batch = await Promise.allSettled(Array.from({ length: Math.min(OPEN_BATCH, n - i) }, () => session(sl.port, false)));
      for (const b of batch) {
        if (b.status === 'fulfilled') socks.push(b.value.sock as Socket);
        else error ??= String(b.reason);
      }
    }
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    return { sessions: n, opened: socks.length, baseRssBytes, rssBytes: rssBytes({ pid: sl.pid }), ...(error ? { error } : {}) };
  } finally {
    for (const s of socks) s.destroy();
    await sl.stop();
    await sink.stop();
  }
}

export interface BigFigures {
  megabytes: number;
  seconds: number;
  baseRssBytes: number;
  peakRssBytes: number;
  delivered: boolean;
  error?: string;
}

export async function bigMessage(mb: number, timeoutMs: number): Promise<BigFigures> {
  const sink = await startSmtpSink();
  const sl = await startSluiceRelay({ sinkPort: sink.port });
  try {
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const m = meter({ pid: sl.pid });
    const t0 = performance.now();
    let error: string | undefined;
    try {
      const c = await session(sl.port, false);
      await sendOne(c, 1, { bodyBytes: mb * 1024 * 1024, rcpts: 1 });
      c.sock.end('QUIT\r\n');
      await sink.waitFor(1, timeoutMs);
    } catch (e) {
      error = (e as Error).message;
    }
    const seconds = (performance.now() - t0) / 1000;
    const u = m.stop();
    return { megabytes: mb, seconds, baseRssBytes: u.startRssBytes, peakRssBytes: u.peakRssBytes, delivered: sink.received() >= 1, ...(error ? { error } : {}) };
  } finally {
    await sl.stop();
    await sink.stop();
  }
}
