// The SMTP listener: smtp-server wiring. Each hook gathers the facts (peer IP, verified
// certificate names, TLS state), asks the pure core (classify, policy) for a verdict and
// turns it into a reply; DATA is streamed into the spool by receive.ts.
import { readFileSync } from 'node:fs';
import type { SMTPServer, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import type { Model } from '../domain/model.js';
import { SluiceError } from '../domain/errors.js';
import { classifySession, type Classification, type SessionFacts } from '../classify/classify-session.js';
import { decideRecipient, decideSender, type RecipientDecision } from '../policy/relay.js';
import { replyError, verdictError } from './replies.js';
import { SluiceSmtpServer } from './connection.js';
import { proxySettings } from './proxy-trust.js';
import { peerCertificateFacts } from './peer-cert.js';
import { receiveMessage } from './receive.js';
import type { Spool } from '../queue/spool.js';
import type { SpoolRecord } from '../queue/record.js';
import type { Logger } from '../observe/log.js';

export type AcceptedRcpt = RecipientDecision & { dsn?: { notify?: string[]; orcpt?: string } };

export interface SessionState {
  facts: SessionFacts;
  cls: Classification;
  messages: number;
  decisions: Map<string, AcceptedRcpt>;
  counted: boolean;
  /** The trusted proxy the session came through (PROXY protocol); facts.ip is the real client. */
  proxiedBy?: string | null;
}

export interface ListenerDeps {
  getModel: () => Model;
  spool: Spool;
  log: Logger;
  onQueued: (record: SpoolRecord) => void;
}

type Cb = (err?: Error | null) => void;

export class Listener {
  private readonly servers: SMTPServer[] = [];
  private readonly sessions = new Map<string, SessionState>();
  private readonly perIp = new Map<string, number>();
  /** Session id → the trusted proxy that announced it, until the session starts. */
  private readonly proxiedBy = new Map<string, string>();
  private total = 0;

  constructor(private readonly deps: ListenerDeps) {}

  private options(model: Model): SMTPServerOptions {
    const { tls, limits, hostname } = model.server;
    let cert: Buffer, key: Buffer, ca: Buffer[];
    try {
      cert = readFileSync(tls.cert);
      key = readFileSync(tls.key);
      ca = tls.clientCa.map((f) => readFileSync(f));
    } catch (err) {
      // Never fall back to smtp-server's built-in key: STARTTLS with a key everyone has is worse than none.
      throw new SluiceError('E_TLS_CERT_MISSING', `cannot read TLS certificate: ${(err as Error).message}`);
    }
    return {
      name: hostname,
      banner: 'Sluice',
      size: limits.maxMessageSize,
      // smtp-server's own refusal would replace ours ("552 5.3.4 Error: message exceeds fixed
      // maximum message size N"); receive.ts refuses an oversized message itself, with our text.
      rejectOversized: false,
      cert,
      key,
      ca: ca.length ? ca : undefined,
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
    const opts = this.options(model);
    const bound: { host: string; port: number }[] = [];
    for (const addr of model.server.listen) {
      const server = new SluiceSmtpServer(opts, {
        // Read from the live model per connection: a reload applies to new sessions.
        greetingDelayMs: () => this.deps.getModel().server.limits.greetingDelayMs,
        onEarlyTalker: (e) => this.deps.log.info({ stage: 'listener', ...e }, 'early talker refused before the greeting'),
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
      const port = typeof a === 'object' && a ? a.port : addr.port;
      bound.push({ host: addr.host, port });
      this.servers.push(server);
    }
    return bound;
  }

  /** Stop accepting; sessions in flight finish (smtp-server closes idle ones after closeTimeout). */
  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
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
    this.deps.log.info(
      { stage: 'classify', sessionId: session.id, ip, proxy: st.proxiedBy, connector: st.cls.connector?.name ?? null, reason: st.cls.reason },
      'session classified',
    );
    cb();
  }

  private onSecure(socket: import('node:net').Socket, session: SMTPServerSession, cb: Cb): void {
    const st = this.state(session);
    const cert = peerCertificateFacts(socket);
    st.facts = { ip: session.remoteAddress, tls: true, certNames: cert.names };
    st.cls = classifySession(this.deps.getModel(), st.facts);
    st.decisions.clear();
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
    if (st.messages >= model.server.limits.maxMessagesPerConnection) {
      return cb(replyError(421, '4.7.0', 'Too many messages in this connection, reconnect and continue'));
    }
    st.decisions.clear();
    const v = decideSender(model, st.facts, st.cls, address);
    if (v.kind !== 'accept') {
      this.deps.log.info({ stage: 'policy', sessionId: session.id, mailFrom: address, reason: v.reason }, 'sender refused');
      return cb(verdictError(v));
    }
    cb();
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
    const d = decideRecipient(model, st.facts, st.cls, mailFrom, address);
    const route = d.route && d.route.kind === 'connector' ? d.route.connector.name : (d.route?.kind ?? null);
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
      d.verdict.kind === 'accept' ? 'recipient accepted' : 'recipient refused',
    );
    if (d.verdict.kind !== 'accept') return cb(verdictError(d.verdict));
    st.decisions.set(address, dsn ? { ...d, dsn } : d);
    cb();
  }

  private onData(stream: import('smtp-server').SMTPServerDataStream, session: SMTPServerSession, cb: (err?: Error | null, msg?: string) => void): void {
    const st = this.state(session);
    st.messages++;
    receiveMessage({ ...this.deps, model: this.deps.getModel() }, stream, session, st).then(
      (record) => {
        this.deps.onQueued(record);
        cb(null, `Ok: queued as ${record.id}`);
      },
      (err: Error) => cb(err),
    );
  }

  private onClose(session: SMTPServerSession): void {
    const st = this.sessions.get(session.id);
    this.sessions.delete(session.id);
    this.proxiedBy.delete(session.id);
    if (!st?.counted) return;
    this.total--;
    const n = (this.perIp.get(session.remoteAddress) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(session.remoteAddress);
    else this.perIp.set(session.remoteAddress, n);
  }
}
