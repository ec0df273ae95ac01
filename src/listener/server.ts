// The SMTP listener: smtp-server wiring. Each hook gathers the facts (peer IP, verified
// certificate names, TLS state), asks the pure core (classify, policy) for a verdict and
// turns it into a reply; DATA is streamed into the spool by receive.ts.
import type { SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import type { ListenAddress, Model } from '../domain/model.js';
import { classifySession, type Classification, type SessionFacts } from '../classify/classify-session.js';
import { decideRecipient, decideSender, type RecipientDecision } from '../policy/relay.js';
import { decideSrsRecipient } from '../policy/srs-recipient.js';
import { replyError, verdictError } from './replies.js';
import { SluiceSmtpServer } from './connection.js';
import { proxySettings } from './proxy-trust.js';
import { peerCertificateFacts } from './peer-cert.js';
import { receiveMessage } from './receive.js';
import { RecipientValidator } from './recipient-validation.js';
import { track } from '../observe/events.js';
import { readServerTls } from './tls-files.js';
import { retireServer, waitUntil } from './drain.js';
import type { Spool } from '../queue/spool.js';
import type { SpoolRecord } from '../queue/record.js';
import type { Logger } from '../observe/log.js';
import type { ConnectResult, Pipeline } from '../filters/pipeline.js';
import { connectStage } from './filter-stage.js';
import { noteSessionClosed, noteSessionOpened } from '../observe/metrics.js';
import type { Lease, LeaseGate } from '../cluster/slot-leases.js';

export type AcceptedRcpt = RecipientDecision & { dsn?: { notify?: string[]; orcpt?: string }; deliverTo?: string };

export interface SessionState {
  facts: SessionFacts;
  cls: Classification;
  messages: number;
  decisions: Map<string, AcceptedRcpt>;
  counted: boolean;
  /** The IP the filters judge when it is not the peer's (enhanced filtering); unset: the peer. */
  clientIp?: string;
  /** The connection stage's result, computed at the first MAIL FROM and again after STARTTLS. */
  connect?: Promise<ConnectResult> | undefined;
  /** The trusted proxy the session came through (PROXY protocol); facts.ip is the real client. */
  proxiedBy?: string | null;
  /** This session's place in its IP's cluster-wide count (cluster mode with Redis). */
  ipLease?: Lease | null;
}

export interface ListenerDeps {
  getModel: () => Model;
  spool: Spool;
  log: Logger;
  onQueued: (record: SpoolRecord) => void;
  /** The protection pipeline (filters/pipeline.ts). */
  pipeline: Pipeline;
  /** Cluster-wide per-IP counts (cluster mode with Redis); absent: this replica's count only. */
  inboundCounts?: LeaseGate | null;
}

type Cb = (err?: Error | null) => void;

const listenKey = (a: ListenAddress): string => `${a.host}:${a.port}`;

/** What a reload did to the listening sockets. */
export interface ListenChange {
  opened: { host: string; port: number }[];
  retiring: string[];
  failed: { address: string; error: string }[];
}

export class Listener {
  /** By configured address ("host:port" as in server.listen), so a reload can tell what changed. */
  private readonly servers = new Map<string, { server: SluiceSmtpServer; bound: { host: string; port: number } }>();
  private draining = false;
  private readonly sessions = new Map<string, SessionState>();
  private readonly perIp = new Map<string, number>();
  /** Session id → the trusted proxy that announced it, until the session starts. */
  private readonly proxiedBy = new Map<string, string>();
  private total = 0;
  private readonly recipients: RecipientValidator;

  constructor(private readonly deps: ListenerDeps) {
    this.recipients = new RecipientValidator(deps.log);
  }

  private options(model: Model): SMTPServerOptions {
    const { tls, limits, hostname } = model.server;
    const { cert, key, ca } = readServerTls(tls);
    return {
      name: hostname,
      banner: 'Sluice',
      size: limits.maxMessageSize,
      // smtp-server's own refusal would replace ours ("552 5.3.4 Error: message exceeds fixed
      // maximum message size N"); receive.ts refuses an oversized message itself, with our text.
      rejectOversized: false,
      cert,
      key,
      ca,
      requestCert: true,
      rejectUnauthorized: false,
      authOptional: true,
      disabledCommands: ['AUTH'],
      hideDSN: false,
      hideENHANCEDSTATUSCODES: false,
      disableReverseLookup: true,
      logger: false,
      socketTimeout: limits.idleTimeoutMs,
      closeTimeout: 30_000,
      maxRecipients: 0,
      onConnect: (s, cb) => this.onConnect(s, cb),
      onSecure: (socket, s, cb) => this.onSecure(socket, s, cb),
      onMailFrom: (a, s, cb) => this.onMailFrom(a.address, s, cb),
      onRcptTo: (a, s, cb) => this.onRcptTo(a.address, a.dsn, s, cb),
      onData: (stream, s, cb) => this.onData(stream, s, cb),
      onClose: (s) => this.onClose(s),
    };
  }

  async start(): Promise<{ host: string; port: number }[]> {
    const model = this.deps.getModel();
    const bound: { host: string; port: number }[] = [];
    for (const addr of model.server.listen) bound.push(await this.open(addr, model));
    return bound;
  }

  private async open(addr: ListenAddress, model: Model): Promise<{ host: string; port: number }> {
    const live = () => this.deps.getModel().server;
    const server = new SluiceSmtpServer(this.options(model), {
      // Read from the live model per connection: a reload applies to new sessions, and a session
      // keeps the size limit, idle timeout and name it started with.
      greetingDelayMs: () => live().limits.greetingDelayMs,
      sessionOptions: () => ({ size: live().limits.maxMessageSize, socketTimeout: live().limits.idleTimeoutMs, name: live().hostname }),
      onEarlyTalker: (e) => this.deps.log.info({ stage: 'listener', ...e }, 'early talker refused before the greeting'),
      deadlines: () => {
        const l = live().limits;
        return { commandMs: l.commandTimeoutMs, dataMs: l.dataTimeoutMs, sessionMs: l.maxSessionDurationMs };
      },
      onDeadline: (e) => this.deps.log.info({ stage: 'listener', ...e }, 'deadline exceeded, connection dropped'),
      proxy: addr.proxyProtocol ? proxySettings(this.deps, this.proxiedBy) : null,
    });
    server.on('error', (err) => this.deps.log.error({ stage: 'listener', err: err.message }, 'listener error'));
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(addr.port, addr.host, () => {
        server.server.off('error', reject);
        resolve();
      });
    });
    const a = server.server.address();
    const bound = { host: addr.host, port: typeof a === 'object' && a ? a.port : addr.port };
    this.servers.set(listenKey(addr), { server, bound });
    return bound;
  }

  /** The addresses listened on now (after reloads). */
  addresses(): { host: string; port: number }[] {
    return [...this.servers.values()].map((s) => s.bound);
  }

  /**
   * Reload: the certificate, key and client CAs are read again for the next TLS handshake (an
   * unreadable or mismatched file throws and changes nothing); new `server.listen` addresses are
   * opened, dropped ones stop accepting and close once their sessions end (within drainTimeout).
   */
  async apply(model: Model): Promise<ListenChange> {
    this.refreshTls(model);
    const want = new Map(model.server.listen.map((a) => [listenKey(a), a]));
    const change: ListenChange = { opened: [], retiring: [], failed: [] };
    for (const [key, addr] of want) {
      if (this.servers.has(key)) continue;
      try {
        change.opened.push(await this.open(addr, model));
      } catch (err) {
        change.failed.push({ address: key, error: (err as Error).message });
      }
    }
    for (const [key, { server }] of this.servers) {
      if (want.has(key)) continue;
      this.servers.delete(key);
      change.retiring.push(key);
      void retireServer(server, model.server.drainTimeoutMs).then(({ cut }) =>
        this.deps.log.info({ stage: 'reload', address: key, cut }, 'stopped listening on a removed address'),
      );
    }
    return change;
  }

  /** Renewed certificate files: the next STARTTLS handshake presents them. Throws if unusable. */
  refreshTls(model: Model): void {
    const files = readServerTls(model.server.tls);
    for (const { server } of this.servers.values()) server.updateSecureContext(files);
  }

  /**
   * SIGTERM: new connections and new transactions get 421 4.3.2; sessions in flight may finish
   * within `timeoutMs`, then the rest are closed with 421 and the sockets closed.
   */
  async drain(timeoutMs: number): Promise<{ finished: boolean; cut: number }> {
    this.draining = true;
    const finished = await waitUntil(() => this.total === 0, timeoutMs);
    const servers = [...this.servers.values()].map((s) => s.server);
    this.servers.clear();
    const results = await Promise.all(servers.map((s) => retireServer(s, 0)));
    return { finished, cut: results.reduce((n, r) => n + r.cut, 0) };
  }

  /** Stop at once (a failed start): sessions are cut with 421. */
  async stop(): Promise<void> {
    await this.drain(0);
  }

  private state(session: SMTPServerSession): SessionState {
    let st = this.sessions.get(session.id);
    if (!st) {
      const facts: SessionFacts = { ip: session.remoteAddress, tls: session.secure, certNames: [] };
      const proxiedBy = this.proxiedBy.get(session.id) ?? null;
      this.proxiedBy.delete(session.id);
      st = { facts, cls: classifySession(this.deps.getModel(), facts), messages: 0, decisions: new Map(), counted: false, proxiedBy };
      this.sessions.set(session.id, st);
    }
    return st;
  }

  private onConnect(session: SMTPServerSession, cb: Cb): void {
    const { limits } = this.deps.getModel().server;
    const ip = session.remoteAddress;
    const n = this.perIp.get(ip) ?? 0;
    if (this.draining) return cb(replyError(421, '4.3.2', 'Service shutting down'));
    if (this.total >= limits.maxConnections) {
      return cb(replyError(421, '4.7.0', 'Too many connections, try again later'));
    }
    if (n >= limits.maxConnectionsPerIp) {
      return cb(replyError(421, '4.7.0', `Too many connections from ${ip}, try again later`));
    }
    const st = this.state(session);
    st.counted = true;
    this.total++;
    this.perIp.set(ip, n + 1);
    noteSessionOpened(st.cls.connector?.name ?? null);
    const admit = () => {
      this.deps.log.info(
        { stage: 'classify', sessionId: session.id, ip, proxy: st.proxiedBy, connector: st.cls.connector?.name ?? null, reason: st.cls.reason },
        'session classified',
      );
      cb();
    };
    const shared = this.deps.inboundCounts;
    if (!shared) return admit();
    // The session is counted here first, so a refusal or a close while Redis answers undoes it once (onClose).
    shared.acquire(ip, limits.maxConnectionsPerIp).then((lease) => {
      if (!this.sessions.has(session.id)) {
        if (lease) shared.release(lease);
        return;
      }
      if (!lease) {
        this.deps.log.info({ stage: 'classify', sessionId: session.id, ip, limit: limits.maxConnectionsPerIp }, 'per-IP limit reached across the cluster');
        return cb(replyError(421, '4.7.0', `Too many connections from ${ip}, try again later`));
      }
      st.ipLease = lease;
      admit();
    }, (err: unknown) => cb(err as Error));
  }

  private onSecure(socket: import('node:net').Socket, session: SMTPServerSession, cb: Cb): void {
    const st = this.state(session);
    const cert = peerCertificateFacts(socket);
    st.facts = { ip: session.remoteAddress, tls: true, certNames: cert.names };
    st.cls = classifySession(this.deps.getModel(), st.facts);
    st.decisions.clear();
    st.connect = undefined; // the connection filters judge the session as it is now classified
    this.deps.log.info(
      {
        stage: 'classify',
        sessionId: session.id,
        tls: true,
        certSubject: cert.subject,
        certVerified: cert.verified,
        certError: cert.error,
        connector: st.cls.connector?.name ?? null,
        matchedBy: st.cls.matchedBy,
        reason: st.cls.reason,
      },
      'session classified after STARTTLS',
    );
    cb();
  }

  private onMailFrom(address: string, session: SMTPServerSession, cb: Cb): void {
    const model = this.deps.getModel();
    const st = this.state(session);
    // Draining: the transaction in progress may finish, a new one is not started.
    if (this.draining) return cb(replyError(421, '4.3.2', 'Service shutting down'));
    if (st.messages >= model.server.limits.maxMessagesPerConnection) {
      return cb(replyError(421, '4.7.0', 'Too many messages in this connection, reconnect and continue'));
    }
    st.decisions.clear();
    const v = decideSender(model, st.facts, st.cls, address);
    if (v.kind !== 'accept') {
      track({
        kind: 'REJECT',
        queueId: null,
        sessionId: session.id,
        sender: address,
        recipients: [],
        clientIp: session.remoteAddress,
        inbound: st.cls.connector?.name ?? null,
        reply: `${v.code} ${v.enhanced} ${v.text}`,
        reason: v.reason,
        detail: { stage: 'mail' },
      });
      return cb(verdictError(v));
    }
    connectStage(this.deps.pipeline, session, st, this.deps.log).then(
      (refused) => cb(refused),
      (err: Error) => {
        this.deps.log.error({ stage: 'filter', sessionId: session.id, err: err.message }, 'connection stage failed');
        cb(replyError(451, '4.7.500', 'Sender could not be checked, try again later'));
      },
    );
  }

  private onRcptTo(
    address: string,
    dsn: { notify?: string[]; orcpt?: string } | undefined,
    session: SMTPServerSession,
    cb: Cb,
  ): void {
    const model = this.deps.getModel();
    const st = this.state(session);
    if (session.envelope.rcptTo.length >= model.server.limits.maxRecipients) {
      return cb(replyError(452, '4.5.3', 'Too many recipients'));
    }
    const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
    const d = decideSrsRecipient(model, address) ?? decideRecipient(model, st.facts, st.cls, mailFrom, address);
    const route = d.route && d.route.kind === 'connector' ? d.route.connector.name : (d.route?.kind ?? null);
    // One REJECT event for a refused recipient, whichever check refused it (trace shows Failed).
    const refused = (v: { code: number; enhanced: string; text: string; reason: string; kind: string }, extra: Record<string, unknown> = {}) =>
      track({
        kind: 'REJECT',
        queueId: null,
        sessionId: session.id,
        sender: mailFrom,
        recipients: [address],
        clientIp: session.remoteAddress,
        inbound: st.cls.connector?.name ?? null,
        reply: `${v.code} ${v.enhanced} ${v.text}`,
        reason: v.reason,
        ...extra,
      });
    if (d.verdict.kind !== 'accept') {
      const v = d.verdict;
      refused(v, { outbound: route, rule: d.route?.rule ?? null, detail: { stage: 'rcpt', verdict: v.kind } });
      return cb(verdictError(v));
    }
    this.deps.log.info(
      {
        stage: 'policy',
        sessionId: session.id,
        mailFrom,
        rcpt: address,
        inbound: st.cls.connector?.name ?? null,
        verdict: d.verdict.kind,
        reason: d.verdict.reason,
        outbound: route,
        rule: d.route?.rule ?? null,
      },
      'recipient accepted',
    );
    const keep = () => {
      st.decisions.set(address, dsn ? { ...d, dsn } : d);
      cb();
    };
    // Only after the relay policy accepted: an unauthorised session never causes a probe.
    const validation = this.recipients.check(model, d.address ?? address, d.route);
    if (!validation) return keep();
    validation.then(
      (v) => {
        this.deps.log.info({ stage: 'policy', sessionId: session.id, rcpt: address, verdict: v.kind, reason: v.reason }, v.kind === 'accept' ? 'recipient validated' : 'recipient unknown');
        if (v.kind === 'accept') return keep();
        refused(v);
        cb(verdictError(v));
      },
      (err: Error) => {
        this.deps.log.error({ stage: 'policy', sessionId: session.id, rcpt: address, err: err.message }, 'recipient validation failed');
        cb(replyError(451, '4.3.0', 'Recipient validation failed, try again later'));
      },
    );
  }

  private onData(stream: import('smtp-server').SMTPServerDataStream, session: SMTPServerSession, cb: (err?: Error | null, msg?: string) => void): void {
    const st = this.state(session);
    st.messages++;
    receiveMessage({ ...this.deps, model: this.deps.getModel() }, stream, session, st).then(
      (stored) => {
        for (const record of stored.queued) this.deps.onQueued(record);
        cb(null, `Ok: queued as ${stored.id}`);
      },
      (err: Error) => cb(err),
    );
  }

  private onClose(session: SMTPServerSession): void {
    const st = this.sessions.get(session.id);
    this.sessions.delete(session.id);
    this.proxiedBy.delete(session.id);
    if (!st?.counted) return;
    if (st.ipLease) this.deps.inboundCounts?.release(st.ipLease);
    noteSessionClosed();
    this.total--;
    const n = (this.perIp.get(session.remoteAddress) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(session.remoteAddress);
    else this.perIp.set(session.remoteAddress, n);
  }
}
