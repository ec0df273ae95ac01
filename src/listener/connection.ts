// Sluice's own smtp-server classes, so that our changes to its behaviour apply to our listeners
// only and never to another SMTPServer in the process (tests run smart hosts on it):
//  - replies that already carry an enhanced status code (EOP's 5.7.64, 5.7.51, our 5.3.4 …) are
//    sent as they are, where smtp-server would put its own default code in front ("550 5.1.1 5.7.64 …");
//  - the greeting waits `greetingDelayMs()` (server.limits.greetingDelay, read per connection so a
//    reload applies to the next session) instead of smtp-server's fixed 100 ms, and a client that
//    talks during the pause is reported before smtp-server refuses it;
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
  /** Set on a listener with `proxyProtocol: true`. */
  proxy?: ProxySettings | null;
}

const COMMAND_LOG_CHARS = 16;

export class SluiceConnection extends SMTPConnection {
  constructor(
    server: SMTPServer,
    socket: Socket,
    options: SMTPConnectionOptions | null | undefined,
    private readonly greetingDelayMs: number,
    private readonly onEarlyTalker: ConnectionSettings['onEarlyTalker'],
  ) {
    super(server, socket, options);
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
    if (!proxy) return super._handleProxy(socket, callback);
    // The same id smtp-server would give the session (80 random bits, base 32).
    const id = BigInt('0x' + randomBytes(10).toString('hex')).toString(32).padStart(16, '0');
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
    const { greetingDelayMs, onEarlyTalker } = this.connectionSettings;
    const connection = new SluiceConnection(this, socket, socketOptions, greetingDelayMs(), onEarlyTalker);
    this.connections.add(connection);
    connection.on('error', (err: Error) => this._onError(err));
    connection.on('connect', (data: Parameters<SMTPServer['_onClientConnect']>[0]) => this._onClientConnect(data));
    connection.init();
  }
}
