// smtp-server waits a fixed 100 ms before every greeting (early-talker detection). With one
// message per connection that pause, not the work, bounded throughput (20 sessions ≈ 190 msg/s;
// see bench/RESULTS.md). This shortens it to GREET_PAUSE_MS; a client that talks before the 220
// is written is still refused with 421 "You talk too soon" (smtp-server's `_ready` check).
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/** Postfix smtpd greets at once (only postscreen pauses); 0 = greet on the next event-loop turn. */
export const GREET_PAUSE_MS = 0;

interface ConnectionInternals {
  name: string;
  _server: { options: { maxClients?: number }; connections: Set<unknown> };
  _setListeners(done: () => void): void;
  connectionReady(): void;
  send(code: number, data: string, context?: unknown): void;
}

let installed = false;

export function installGreetPause(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as ConnectionInternals & { init(): void };
  // Same as smtp-server 3.21's init(), with the pause shortened.
  proto.init = function (this: ConnectionInternals) {
    this._setListeners(() => {
      const { maxClients } = this._server.options;
      if (maxClients && this._server.connections.size > maxClients) {
        return this.send(421, this.name + ' Too many connected clients, try again in a moment', false);
      }
      setTimeout(() => this.connectionReady(), GREET_PAUSE_MS).unref();
    });
  };
}
