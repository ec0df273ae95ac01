// One nodemailer SMTP pool per (outbound connector, target host). The pool enforces the
// connector's maxConnections and maxMessagesPerConnection (then a fresh connection); a pool
// whose connector changed on reload is closed and rebuilt.
import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import type { OutboundConnector } from '../domain/model.js';
import type { TargetHost } from './hosts.js';
import { tlsOptionsFor } from './tls-policy.js';

const CONNECT_TIMEOUT_MS = 15_000;
const GREETING_TIMEOUT_MS = 15_000;
const SOCKET_TIMEOUT_MS = 120_000;

interface PoolEntry {
  signature: string;
  transport: Transporter;
}

export class Pools {
  private readonly pools = new Map<string, PoolEntry>();
  constructor(private readonly heloName: () => string) {}

  get(connector: OutboundConnector, target: TargetHost): Transporter {
    const key = `${connector.name}\u0000${target.host}\u0000${target.port}`;
    const signature = JSON.stringify([connector, this.heloName()]);
    const existing = this.pools.get(key);
    if (existing && existing.signature === signature) return existing.transport;
    existing?.transport.close();
    const t = tlsOptionsFor(connector, target.name);
    const transport = nodemailer.createTransport({
      pool: true,
      host: target.host,
      port: target.port,
      secure: false,
      name: this.heloName(),
      maxConnections: connector.maxConnections,
      maxMessages: connector.maxMessagesPerConnection,
      requireTLS: t.requireTLS,
      opportunisticTLS: t.opportunisticTLS,
      tls: { ...t.tls, servername: isIpLiteral(target.name) ? undefined : target.name },
      connectionTimeout: CONNECT_TIMEOUT_MS,
      greetingTimeout: GREETING_TIMEOUT_MS,
      socketTimeout: SOCKET_TIMEOUT_MS,
      logger: false,
    } as Parameters<typeof nodemailer.createTransport>[0]);
    this.pools.set(key, { signature, transport });
    return transport;
  }

  closeAll(): void {
    for (const p of this.pools.values()) p.transport.close();
    this.pools.clear();
  }
}

function isIpLiteral(name: string): boolean {
  return /^[\d.]+$/.test(name) || name.includes(':');
}
