// The delivery thread: outbound SMTP sessions (nodemailer, per-stage timeouts, dot-stuffing and
// the socket writes) run here, off the thread that receives mail. The pools on the main thread
// decide everything (which host, how many connections, TLS policy, retries); this thread only
// carries out open / send / reset / quit / close for them (remote-session.ts is the other side).
import { Readable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import { SmtpSession, type SmtpError } from './connection.js';
import { fromWire, infoToWire, optionsFromWire, toWire, type FromWorker, type ToWorker } from './session-protocol.js';

/** The worker tells the sender how far it got once this much more of a body was taken. */
export const ACK_BYTES = 256 * 1024;

/**
 * One transaction's body as nodemailer reads it: chunks from the main thread wait in `queue`
 * until the stream asks for more (the pull pattern, so the stream's own buffer stays small), and
 * what was handed on is acknowledged, which lets the sender go on past its window.
 */
interface Tx {
  tx: number;
  body: Readable;
  queue: Buffer[];
  ended: boolean;
  wanting: boolean;
  taken: number;
  acked: number;
}

const port = parentPort!;
const sessions = new Map<number, SmtpSession>();
const opening = new Map<number, AbortController>();
const txs = new Map<number, Tx>();

const post = (m: FromWorker) => port.postMessage(m);

function open(m: Extract<ToWorker, { type: 'open' }>): void {
  const ac = new AbortController();
  opening.set(m.id, ac);
  SmtpSession.open(optionsFromWire(m.options), m.key, m.timeouts, m.plaintextFallback, ac.signal).then(
    (s) => {
      opening.delete(m.id);
      if (ac.signal.aborted) {
        s.close();
        return;
      }
      sessions.set(m.id, s);
      void s.closed.then(() => {
        sessions.delete(m.id);
        txs.delete(m.id);
        post({ type: 'closed', id: m.id });
      });
      post({ type: 'opened', id: m.id, secure: s.secure, facts: s.tlsFacts() });
    },
    (err: SmtpError) => {
      opening.delete(m.id);
      post({ type: 'open-failed', id: m.id, error: toWire(err) });
    },
  );
}

/** Hands the next queued chunk to the stream if it asked for one. */
function pump(id: number, t: Tx): void {
  if (!t.wanting) return;
  const next = t.queue.shift();
  if (next) {
    t.wanting = false;
    t.taken += next.length;
    if (t.taken - t.acked >= ACK_BYTES) {
      t.acked = t.taken;
      post({ type: 'ack', id, tx: t.tx, bytes: t.acked });
    }
    t.body.push(next);
  } else if (t.ended) {
    t.wanting = false;
    t.body.push(null);
  }
}

function feed(id: number, t: Tx, chunks: Uint8Array[], end: boolean): void {
  for (const c of chunks) t.queue.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  if (end) t.ended = true;
  pump(id, t);
}

function send(m: Extract<ToWorker, { type: 'send' }>): void {
  const s = sessions.get(m.id);
  if (!s) {
    post({ type: 'send-failed', id: m.id, tx: m.tx, error: { message: 'Connection closed unexpectedly', code: 'ECONNECTION', command: 'CONN', unsent: true } });
    return;
  }
  const t: Tx = { tx: m.tx, queue: [], ended: false, wanting: false, taken: 0, acked: 0, body: null as unknown as Readable };
  t.body = new Readable({
    read: () => {
      t.wanting = true;
      pump(m.id, t);
    },
  });
  txs.set(m.id, t);
  feed(m.id, t, m.chunks, m.end);
  s.send(m.envelope, t.body).then(
    (info) => {
      if (txs.get(m.id) === t) txs.delete(m.id);
      post({ type: 'sent', id: m.id, tx: m.tx, info: infoToWire(info) });
    },
    (err: SmtpError) => {
      if (txs.get(m.id) === t) txs.delete(m.id);
      t.body.destroy();
      post({ type: 'send-failed', id: m.id, tx: m.tx, error: toWire(err) });
    },
  );
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'open':
      return open(m);
    case 'abort-open':
      return opening.get(m.id)?.abort(fromWire(m.error));
    case 'send':
      return send(m);
    case 'chunks': {
      const t = txs.get(m.id);
      if (t?.tx === m.tx) feed(m.id, t, m.chunks, m.end);
      return;
    }
    case 'body-error': {
      const t = txs.get(m.id);
      if (t?.tx === m.tx) t.body.destroy(fromWire(m.error));
      return;
    }
    case 'reset': {
      const s = sessions.get(m.id);
      if (!s) return post({ type: 'reset-done', id: m.id, tx: m.tx, error: { message: 'Connection closed', code: 'ECONNECTION' } });
      s.reset().then(
        () => post({ type: 'reset-done', id: m.id, tx: m.tx }),
        (err) => post({ type: 'reset-done', id: m.id, tx: m.tx, error: toWire(err) }),
      );
      return;
    }
    case 'quit':
      return sessions.get(m.id)?.quit();
    case 'close':
      opening.get(m.id)?.abort(fromWire({ message: 'Connection closed', code: 'ECONNECTION', command: 'CONN' }));
      return sessions.get(m.id)?.close();
  }
});
