// A recording SMTP server (smtp-server) that integration tests use as a smart host, MX or on-prem server.
// It keeps every message byte-for-byte with its envelope, counts connections (concurrency, messages per
// connection, TLS, client certificate) and answers RCPT/DATA with scripted replies that tests can change live.
import type { TLSSocket } from 'node:tls';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

export interface ReceivedMessage {
  mailFrom: string;
  rcptTo: string[];
  /** The DATA payload exactly as received, dot-unstuffed, without the terminating CRLF.CRLF. */
  raw: Buffer;
  connectionId: string;
  secure: boolean;
  remoteAddress: string;
  /** 1 for the first message of a connection; counts refused DATA transactions too. */
  messageIndexInConnection: number;
  at: number;
}

/** A reply such as '450 4.2.0 try later'; it goes out verbatim. null means accept. */
export type ScriptedReply = string | null;

export interface SmartHostOptions {
  host?: string;
  port?: number;
  /** STARTTLS is offered only when set. */
  tls?: { cert: string; key: string };
  /** Refuse MAIL FROM with 530 until the client has done STARTTLS. */
  requireTls?: boolean;
  /** PEM trust anchor(s); when set a client certificate is requested (never required) and recorded. */
  clientCa?: string | string[];
  /** Reply at connect instead of the greeting, e.g. '421 4.3.2 busy'; the connection is then closed. */
  onConnect?: (remoteAddress: string) => ScriptedReply;
  onRcpt?: (rcpt: string) => ScriptedReply;
  /** Reply after DATA; refused messages go to `rejected`, not `messages`. */
  onData?: (msg: ReceivedMessage) => ScriptedReply;
  /** Delay before answering DATA, to keep connections busy (concurrency and timeout tests). */
  delayMs?: number;
  /** Text after '220 <name> ESMTP' in the greeting. */
  banner?: string;
}

export interface PeerCertificateInfo {
  cn: string | undefined;
  sans: string[];
  /** Whether the chain verified against clientCa. */
  authorized: boolean;
  authorizationError?: string;
}

export interface SmartHostConnection {
  id: string;
  remoteAddress: string;
  remotePort: number;
  opened: number;
  closed: number | null;
  /** DATA transactions completed on this connection, accepted or refused. */
  messages: number;
  secure: boolean;
  peerCertificate?: PeerCertificateInfo;
}

export interface SmartHost {
  port: number;
  host: string;
  messages: ReceivedMessage[];
  rejected: ReceivedMessage[];
  connections: SmartHostConnection[];
  maxConcurrentConnections: number;
  /** Resolves with all accepted messages once at least `count` have arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  /** Changes scripted behaviour for later commands; listener and TLS settings are fixed at start. */
  setBehaviour(patch: Partial<SmartHostOptions>): void;
  close(): Promise<void>;
}

const DEFAULT_WAIT_MS = 10_000;
/** How long close() lets sessions finish before smtp-server sends 421 and drops them. */
const CLOSE_GRACE_MS = 200;
const SERVER_NAME = 'smarthost.test';
const FIXED_OPTIONS = ['host', 'port', 'tls', 'clientCa'] as const;

type ReplyError = Error & { responseCode: number };

/** Turns '450 4.2.0 try later' into an error smtp-server writes back as exactly that line. */
export function replyError(reply: string): ReplyError {
  const match = /^([245]\d\d)(?:[ -](.*))?$/s.exec(reply.trim());
  if (!match) throw new Error(`smart host: scripted reply must start with a 2xx/4xx/5xx code: ${JSON.stringify(reply)}`);
  // With enhanced status codes hidden, smtp-server prints `${code} ${message}`, so the enhanced
  // code in the scripted text appears once, as written, and never doubled by the server's own.
  const err = new Error(match[2] ?? '') as ReplyError;
  err.responseCode = Number(match[1]);
  return err;
}

export async function startSmartHost(opts: SmartHostOptions = {}): Promise<SmartHost> {
  const behaviour: SmartHostOptions = { ...opts };
  const byId = new Map<string, SmartHostConnection>();
  let open = 0;
  /**
   * Open connections by the client's address:port, so a connection counts as closed when the
   * client's FIN arrives. smtp-server calls onClose a few event-loop turns after that, possibly after
   * the same client's next connection was accepted: the counts at the host would overlap by an
   * artefact of our own event loop, not by anything the client did.
   */
  const byPeer = new Map<string, SmartHostConnection>();
  const closeConn = (conn: SmartHostConnection | undefined) => {
    if (!conn || conn.closed !== null) return;
    conn.closed = Date.now();
    open -= 1;
    byPeer.delete(`${conn.remoteAddress}:${conn.remotePort}`);
  };
  const waiters = new Set<() => void>();

  const state: SmartHost = {
    port: 0,
    host: opts.host ?? '127.0.0.1',
    messages: [],
    rejected: [],
    connections: [],
    maxConcurrentConnections: 0,
    waitFor,
    setBehaviour,
    close,
  };

  const server = new SMTPServer({
    name: SERVER_NAME,
    banner: opts.banner,
    logger: false,
    disableReverseLookup: true,
    authOptional: true,
    disabledCommands: opts.tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    hideSTARTTLS: !opts.tls,
    // Default, stated on purpose: scripted replies carry their own enhanced code (see replyError).
    hideENHANCEDSTATUSCODES: true,
    closeTimeout: CLOSE_GRACE_MS,
    ...(opts.tls ? { key: opts.tls.key, cert: opts.tls.cert } : {}),
    ...(opts.clientCa ? { ca: opts.clientCa, requestCert: true, rejectUnauthorized: false } : {}),

    onConnect(session, callback) {
      const conn: SmartHostConnection = {
        id: session.id,
        remoteAddress: session.remoteAddress,
        remotePort: session.remotePort,
        opened: Date.now(),
        closed: null,
        messages: 0,
        secure: session.secure,
      };
      byId.set(session.id, conn);
      byPeer.set(`${session.remoteAddress}:${session.remotePort}`, conn);
      state.connections.push(conn);
      open += 1;
      state.maxConcurrentConnections = Math.max(state.maxConcurrentConnections, open);
      const reply = behaviour.onConnect?.(session.remoteAddress) ?? null;
      callback(reply ? replyError(reply) : null);
    },

    onSecure(socket, session, callback) {
      const conn = byId.get(session.id);
      if (conn) {
        conn.secure = true;
        if (opts.clientCa) conn.peerCertificate = peerCertificateOf(socket as TLSSocket);
      }
      callback();
    },

    onClose(session) {
      const conn = byId.get(session.id);
      // onClose also fires for sockets that left before onConnect; those were never counted.
      closeConn(conn);
    },

    onMailFrom(_address, session, callback) {
      if (behaviour.requireTls && !session.secure) {
        return callback(replyError('530 5.7.0 Must issue a STARTTLS command first'));
      }
      callback();
    },

    onRcptTo(address, _session, callback) {
      const reply = behaviour.onRcpt?.(address.address) ?? null;
      callback(reply ? replyError(reply) : null);
    },

    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.once('error', (err) => callback(err));
      stream.once('end', () => {
        void finishMessage(session, Buffer.concat(chunks)).then(
          (reply) => callback(reply ? replyError(reply) : null),
          (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
        );
      });
    },
  });

  async function finishMessage(session: SMTPServerSession, raw: Buffer): Promise<ScriptedReply> {
    const conn = byId.get(session.id);
    const index = conn ? ++conn.messages : 1;
    const msg: ReceivedMessage = {
      mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
      rcptTo: session.envelope.rcptTo.map((r) => r.address),
      raw,
      connectionId: session.id,
      secure: session.secure,
      remoteAddress: session.remoteAddress,
      messageIndexInConnection: index,
      at: Date.now(),
    };
    if (behaviour.delayMs) await new Promise((resolve) => setTimeout(resolve, behaviour.delayMs));
    const reply = behaviour.onData?.(msg) ?? null;
    if (reply) {
      state.rejected.push(msg);
    } else {
      state.messages.push(msg);
      for (const wake of waiters) wake();
    }
    return reply;
  }

  function waitFor(count: number, timeoutMs = DEFAULT_WAIT_MS): Promise<ReceivedMessage[]> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (state.messages.length < count) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve([...state.messages]);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `smart host ${state.host}:${state.port}: waited ${timeoutMs} ms for ${count} message(s), ` +
              `${state.messages.length} arrived (${state.rejected.length} refused, ${state.connections.length} connections)`,
          ),
        );
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  }

  function setBehaviour(patch: Partial<SmartHostOptions>): void {
    const fixed = FIXED_OPTIONS.filter((k) => k in patch);
    if (fixed.length > 0) throw new Error(`smart host: ${fixed.join(', ')} cannot change after start`);
    Object.assign(behaviour, patch);
    // smtp-server reads the banner when it greets, so a new one applies to the next connection.
    if ('banner' in patch) server.options.banner = patch.banner;
  }

  async function close(): Promise<void> {
    if (!server.server.listening) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  server.on('error', () => {
    // Client misbehaviour (resets, TLS alerts) must not crash the test process; tests assert on records.
  });
  await new Promise<void>((resolve, reject) => {
    server.server.on('connection', (socket: import('node:net').Socket) => {
      const peer = `${socket.remoteAddress}:${socket.remotePort}`;
      // A STARTTLS upgrade moves the stream into a TLSSocket; its plain socket may never say 'end'.
      socket.once('end', () => closeConn(byPeer.get(peer)));
    });
    server.server.once('error', reject);
    server.listen(opts.port ?? 0, state.host, () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const address = server.server.address();
  state.port = typeof address === 'object' && address ? address.port : 0;
  return state;
}

function peerCertificateOf(socket: TLSSocket): PeerCertificateInfo | undefined {
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return undefined;
  const cn = Array.isArray(cert.subject?.CN) ? cert.subject.CN[0] : cert.subject?.CN;
  const sans = (cert.subjectaltname ?? '')
    .split(', ')
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
  const info: PeerCertificateInfo = { cn, sans, authorized: socket.authorized };
  if (socket.authorizationError) info.authorizationError = String(socket.authorizationError);
  return info;
}

/** Resolves with the first message `host` accepted for `rcpt`; fails the test after `timeoutMs`. */
export async function arrivedFor(host: SmartHost, rcpt: string, timeoutMs = DEFAULT_WAIT_MS): Promise<ReceivedMessage> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const m = host.messages.find((x) => x.rcptTo.includes(rcpt));
    if (m) return m;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${rcpt} did not arrive at ${host.host}:${host.port} within ${timeoutMs} ms`);
}
