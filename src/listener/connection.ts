// Sluice's own smtp-server classes, so that our changes to its behaviour apply to our listeners
// only and never to another SMTPServer in the process (tests run smart hosts on it):
//  - replies that already carry an enhanced status code (EOP's 5.7.64, 5.7.51, our 5.3.4 …) are
//    sent as they are, where smtp-server would put its own default code in front ("550 5.1.1 5.7.64 …");
//  - the greeting waits `greetingDelayMs()` (server.limits.greetingDelay, read per connection so a
//    reload applies to the next session) instead of smtp-server's fixed 100 ms, and a client that
//    talks during the pause is reported before smtp-server refuses it;
//  - request deadlines (request-deadline.ts): a command line, the message and the whole session
//    each have a bound however slowly the bytes trickle in, which smtp-server's idle timer lacks.
//  - each connection reads its options (size, socketTimeout, name) from a copy taken when it was
//    accepted, built from the live model by `sessionOptions()`: a reload applies to the next
//    session while sessions in flight finish under the settings they started with.
//  - on a listener with `proxyProtocol: true`, `_handleProxy` reads a PROXY v1/v2 header
//    (proxy-socket.ts) from trusted proxies only, instead of smtp-server's v1-only `useProxy`, and
//    closes every other connection before the greeting.
// They override internals of smtp-server 3.21.6, which package.json pins exactly; the tests in
// test/integration/listener-wire.test.ts and proxy-protocol.test.ts fail if an override stops taking effect.
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import type tls from 'node:tls';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection, type SMTPConnectionOptions } from 'smtp-server/lib/smtp-connection.js';
import { carriesEnhancedCode } from './replies.js';
import { RequestDeadline, type Deadlines, type DeadlineKind } from './request-deadline.js';
import { readProxyHeader } from './proxy-socket.js';

type Socket = net.Socket | tls.TLSSocket;

export interface EarlyTalker {
  ip: string;
  /** The first word of the line sent before the greeting, at most COMMAND_LOG_CHARS characters. */
  command: string;
  greetingDelayMs: number;
}

export interface ProxyRefusal {
  /** The address the TCP connection came from. */
  peer: string;
  reason: string;
}

export interface ProxySettings {
  /** server.trustedProxies, read per connection so a reload applies to the next one. */
  isTrusted: (peer: string) => boolean;
  /** The session `id` will see `client` as its remote address; `proxy` is the balancer. */
  onProxied: (e: { id: string; client: string; proxy: string; version: 1 | 2 }) => void;
  /** The connection is closed without a greeting. */
  onRefused: (e: ProxyRefusal) => void;
}

export interface ConnectionSettings {
  greetingDelayMs: () => number;
  /** Called once per connection that sends a line before the 220; smtp-server then answers 421. */
  onEarlyTalker?: (e: EarlyTalker) => void;
  /** Read per connection, like greetingDelayMs. */
  deadlines?: () => Deadlines;
  onDeadline?: (e: { ip: string; kind: DeadlineKind; limitMs: number }) => void;
  /** Options this connection alone sees, read once when it is accepted. */
  sessionOptions?: () => Partial<SMTPServerOptions>;
  /** Set on a listener with `proxyProtocol: true`. */
  proxy?: ProxySettings | null;
}

/**
 * The server as one connection sees it: everything is the server's own (connections, secure
 * context, hooks) except `options`, a copy with the per-session values. smtp-server 3.21.6 reads
 * but never assigns `_server.*` from a connection, so the copy never shadows a write.
 */
function sessionView(server: SMTPServer, live: Partial<SMTPServerOptions>): SMTPServer {
  return Object.create(server, { options: { value: { ...server.options, ...live }, enumerable: true }}) as SMTPServer;
}

const COMMAND_LOG_CHARS = 16;

/** Drawn once per process: with the time and a counter it keeps session ids apart across replicas and restarts. */
const SESSION_ID_PREFIX = randomBytes(4).readUInt32BE(0).toString(32).padStart(7, '0').slice(-5);
let sessionCounter = 0;

/**
 * A session id shaped like smtp-server's (16 characters of base 32): the time in ms, a per-process
 * random part and a counter, so ids stay unique and sort by time without a random draw per session.
 */
export function nextSessionId(): string {
  sessionCounter = (sessionCounter + 1) % 1024;
  return Date.now().toString(32).padStart(9, '0') + SESSION_ID_PREFIX + sessionCounter.toString(32).padStart(2, '0');
}

export class SluiceConnection extends SMTPConnection {
  private deadline: RequestDeadline | null = null;

  constructor(
    server: SMTPServer,
    socket: Socket,
    options: SMTPConnectionOptions | null | undefined,
    private readonly greetingDelayMs: number,
    private readonly onEarlyTalker: ConnectionSettings['onEarlyTalker'],
    deadlines?: Deadlines,
    onDeadline?: ConnectionSettings['onDeadline'],
  ) {
    super(server, socket, options);
    if (deadlines) {
      this.deadline = new RequestDeadline(deadlines, {
        // The client owes us nothing while a hook or onData is still deciding: wait for it.
        clientOwesInput: () => !this._handlerPending && !(this._dataStream && this._parser && !this._parser._dataMode),
        expire: (kind, limitMs) => {
          if (this._closing) return;
          onDeadline?.({ ip: this.remoteAddress, kind, limitMs });
          this.send(421, `4.4.2 ${this.name} Error: timeout exceeded`);
          this.close();
        },
      });
      this.deadline.startSession();
    }
  }

  override handler_DATA(command: Buffer, callback: () => void): void {
    super.handler_DATA(command, callback);
    if (this._dataStream) this.deadline?.arm('data');
  }

  override _onClose(): void {
    this.deadline?.stop();
    super._onClose();
  }

  /** smtp-server's init() (3.21.6) with its fixed 100 ms early-talker pause replaced by ours. */
  override init(): void {
    this._setListeners(() => {
      const { maxClients } = this._server.options;
      if (maxClients && this._server.connections.size > maxClients) {
        return this.send(421, this.name + ' Too many connected clients, try again in a moment', false);
      }
      // 0 greets within this call, before a single byte from the client has been parsed, so a
      // client that pipelines EHLO right behind the connect is served (Postfix smtpd). A positive
      // delay leaves `_ready` false that long, and smtp-server answers any command that arrives
      // meanwhile with 421 "You talk too soon" and closes (postscreen's pregreet test).
      if (this.greetingDelayMs <= 0) return this.connectionReady();
      const timer = setTimeout(() => this.connectionReady(), this.greetingDelayMs);
      timer.unref();
      this._socket.once('close', () => clearTimeout(timer));
    });
  }

  override _onCommand(command: Buffer, callback?: () => void): void {
    // The same conditions under which smtp-server 3.21.6 answers "You talk too soon".
    if (!this._ready && !this._closing && !this._upgrading && !this._server._closeTimeout) {
      const word = (command ?? '').toString().split(' ', 1)[0] ?? '';
      this.onEarlyTalker?.({ ip: this.remoteAddress, command: word.slice(0, COMMAND_LOG_CHARS), greetingDelayMs: this.greetingDelayMs });
    }
    super._onCommand(command, callback);
  }

  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    super.send(code, data, carriesEnhancedCode(data) ? false : context);
    // Every reply hands the turn to the client; the 354 is followed by the data deadline (handler_DATA).
    if (code !== 354 && !this._closing) this.deadline?.arm('command');
  }
}

export class SluiceSmtpServer extends SMTPServer {
  constructor(
    options: SMTPServerOptions,
    private readonly connectionSettings: ConnectionSettings,
  ) {
    super(options);
  }

  /**
   * Replaces smtp-server's (3.21.6) PROXY v1 reader on proxy listeners. The spec forbids guessing
   * whether a header is present, so such a listener requires one, and only from a trusted proxy.
   */
  override _handleProxy(socket: net.Socket, callback: Parameters<SMTPServer['_handleProxy']>[1]): void {
    const proxy = this.connectionSettings.proxy;
    const id = nextSessionId();
    if (!proxy) {
      // smtp-server's own path for a plain listener, with our id: it draws 80 random bits per
      // connection, which showed in the profile (one connection per message under load).
      setImmediate(() => callback(null, { id }));
      return;
    }
    const peer = socket.remoteAddress ?? '';
    const refuse = (reason: string): void => {
      proxy.onRefused({ peer, reason });
      // A late EPIPE/ECONNRESET must not surface as an uncaught error once smtp-server lets go.
      socket.on('error', () => undefined);
      socket.destroy();
      callback(new Error(reason));
    };
    if (!proxy.isTrusted(peer)) {
      refuse('connection to a PROXY protocol listener from an address not in server.trustedProxies');
      return;
    }
    void readProxyHeader(socket).then((r) => {
      if (r.kind === 'invalid') return refuse(`trusted proxy sent no valid PROXY header: ${r.reason}`);
      // LOCAL/UNKNOWN: the balancer speaks for itself (its health check).
      if (r.source) proxy.onProxied({ id, client: r.source.ip, proxy: peer, version: r.version });
      callback(null, r.source ? { id, remoteAddress: r.source.ip, remotePort: r.source.port } : { id });
    });
  }

  /** smtp-server's connect() (3.21.6), constructing our connection class. */
  override connect(socket: Socket, socketOptions?: SMTPConnectionOptions | null): void {
    const { greetingDelayMs, onEarlyTalker, deadlines, onDeadline, sessionOptions } = this.connectionSettings;
    const view = sessionOptions ? sessionView(this, sessionOptions()) : this;
    const connection = new SluiceConnection(view, socket, socketOptions, greetingDelayMs(), onEarlyTalker, deadlines?.(), onDeadline);
    this.connections.add(connection);
    connection.on('error', (err: Error) => this._onError(err));
    connection.on('connect', (data: Parameters<SMTPServer['_onClientConnect']>[0]) => this._onClientConnect(data));
    connection.init();
  }
}
