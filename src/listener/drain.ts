// Ending listening sockets without cutting sessions short: used by the SIGTERM drain (every
// socket) and by a reload that drops a `server.listen` address (that socket only). smtp-server's
// own close() answers every later command of a session in flight with 421, so these stop the
// accept loop themselves, wait for the sessions, and only then cut what is left with 421 4.3.2.
import type { SMTPServer } from 'smtp-server';

const POLL_MS = 25;
const SOCKETS_GONE_TIMEOUT_MS = 5_000;
export const SHUTTING_DOWN_TEXT = '4.3.2 Service shutting down';

/** Polls `done` until it holds or `timeoutMs` passed; true when it held. */
export async function waitUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(1, deadline - Date.now()))));
  }
  return true;
}

/** Closes every session of `server` with 421 4.3.2; returns how many there were. */
export function cutSessions(server: SMTPServer): number {
  const open = [...server.connections];
  for (const c of open) {
    c.send(421, SHUTTING_DOWN_TEXT);
    c.close();
  }
  return open.length;
}

/** Stops accepting on `server`, waits up to `timeoutMs` for its sessions, cuts the rest, closes it. */
export async function retireServer(server: SMTPServer, timeoutMs: number): Promise<{ cut: number }> {
  const closed = new Promise<void>((resolve) => server.server.close(() => resolve()));
  await waitUntil(() => server.connections.size === 0, timeoutMs);
  const cut = cutSessions(server);
  await closeServer(server);
  // A cut client that never closes its end is destroyed by smtp-server's half-close timer.
  await Promise.race([closed, new Promise((r) => setTimeout(r, SOCKETS_GONE_TIMEOUT_MS).unref())]);
  return { cut };
}

/** smtp-server's close(), once no session is left that it could answer with its own 421. */
export function closeServer(server: SMTPServer): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!server.server.listening) {
      // Already stopped accepting: only the pending sockets (TLS handshakes) remain to destroy.
      for (const s of server._pendingSockets.values()) s.destroy();
      return resolve();
    }
    server.close(() => resolve());
  });
}
