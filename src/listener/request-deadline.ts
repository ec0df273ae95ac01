// Deadlines per request for an SMTP session (Postfix's smtpd_per_request_deadline): the time a
// client may take for one command line, for the message body after the 354, and for the whole
// connection. smtp-server's idle timer restarts on every byte, so a client that trickles one
// byte at a time is never dropped by it; these timers are not reset by bytes, only by the turn.
// One timer for the current request plus one for the session; the owner sends the 421.

export interface Deadlines {
  commandMs: number;
  dataMs: number;
  sessionMs: number;
}

export type DeadlineKind = 'command' | 'data' | 'session';

export interface DeadlineHooks {
  /** False while the server itself is deciding (a hook or onData is pending): the clock waits. */
  clientOwesInput(): boolean;
  expire(kind: DeadlineKind, limitMs: number): void;
}

/** How often a deadline that fell due while the server was busy is looked at again. */
const BUSY_RECHECK_MS = 1_000;

export class RequestDeadline {
  private request: NodeJS.Timeout | undefined;
  private session: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly limits: Deadlines,
    private readonly hooks: DeadlineHooks,
  ) {}

  startSession(): void {
    this.session = setTimeout(() => this.fire('session', this.limits.sessionMs), this.limits.sessionMs);
    this.session.unref();
  }

  /** Starts the clock of the request the client now owes us, replacing the previous one. */
  arm(kind: 'command' | 'data'): void {
    if (this.stopped) return;
    clearTimeout(this.request);
    const limitMs = kind === 'data' ? this.limits.dataMs : this.limits.commandMs;
    this.request = setTimeout(() => this.due(kind, limitMs), limitMs);
    this.request.unref();
  }

  private due(kind: DeadlineKind, limitMs: number): void {
    if (this.stopped) return;
    if (!this.hooks.clientOwesInput()) {
      this.request = setTimeout(() => this.due(kind, limitMs), BUSY_RECHECK_MS);
      this.request.unref();
      return;
    }
    this.fire(kind, limitMs);
  }

  private fire(kind: DeadlineKind, limitMs: number): void {
    if (this.stopped) return;
    this.stop();
    this.hooks.expire(kind, limitMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.request);
    clearTimeout(this.session);
  }
}
