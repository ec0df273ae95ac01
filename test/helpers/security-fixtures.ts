// Shared set-up for the security battery (test/security/): one Sluice daemon with two recording smart
// hosts ("on-prem" for accepted domains, "internet" for everything else), a line-oriented SMTP dialog
// over any stream (plain or TLS-upgraded), and probes on what peers received (bare CR/LF, RSS).
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { makeCertSet, type CertSet } from './certs.js';
import { RawSmtp } from './raw-smtp.js';
import { startSmartHost, type ReceivedMessage, type SmartHost } from './smart-host.js';
import { startSluice, testConfig, type SluiceProcess } from './sluice.js';

export const ACCEPTED = 'contoso.com';

/** Client sockets opened through this module; Gateway.stop() destroys them so a failed test cannot
 * hold the daemon's graceful shutdown (it waits for open sessions). */
const openClients = new Set<{ close(): void }>();
export const track = <T extends { close(): void }>(c: T): T => (openClients.add(c), c);
export function closeAllClients(): void {
  for (const c of openClients) c.close();
  openClients.clear();
}

/** The connectors of the core-flow test: two by certificate, one on-prem by IP (127.0.0.2), a partner. */
export const STANDARD_INBOUND = [
  { name: 'Cert exact', connectorType: 'OnPremises', senderDomains: ['*'], tlsSenderCertificateName: 'mail.contoso.com' },
  { name: 'Cert wildcard', connectorType: 'OnPremises', senderDomains: ['*'], tlsSenderCertificateName: '*.contoso.com' },
  { name: 'On-prem IP', connectorType: 'OnPremises', senderDomains: ['*'], senderIPAddresses: ['127.0.0.2'] },
];

export interface Gateway {
  certs: CertSet;
  /** Receives what Sluice routes to accepted domains (outbound connector "To on-prem"). */
  onprem: SmartHost;
  /** Receives everything else (outbound connector "To internet", recipientDomains ["*"]). */
  internet: SmartHost;
  sluice: SluiceProcess;
  stop(): Promise<void>;
}

export async function startGateway(opts: {
  limits?: Record<string, unknown>;
  inboundConnectors?: unknown[];
  acceptedDomains?: unknown[];
  organization?: Record<string, unknown>;
} = {}): Promise<Gateway> {
  const certs = await makeCertSet();
  const onprem = await startSmartHost();
  const internet = await startSmartHost();
  const patch = {
    acceptedDomains: opts.acceptedDomains ?? [{ domain: ACCEPTED, type: 'Authoritative' }],
    inboundConnectors: opts.inboundConnectors ?? STANDARD_INBOUND,
    ...(opts.organization ? { organization: opts.organization } : {}),
    outboundConnectors: [
      { name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${onprem.port}`] },
      { name: 'To internet', connectorType: 'Partner', recipientDomains: ['*'], smartHosts: [`127.0.0.1:${internet.port}`] },
    ],
  };
  const sluice = await startSluice({
    certs,
    config: (port, dir) => {
      const config = testConfig({ port, dir, certs, patch }) as { server: { limits: Record<string, unknown> } };
      config.server.limits = { ...config.server.limits, ...opts.limits };
      return config;
    },
  });
  return {
    certs,
    onprem,
    internet,
    sluice,
    async stop() {
      closeAllClients();
      await sluice.stop();
      await onprem.close();
      await internet.close();
    },
  };
}

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A plaintext session past the greeting and EHLO. */
export async function openSession(port: number, opts: { localAddress?: string; ehlo?: string } = {}): Promise<RawSmtp> {
  const c = track(await RawSmtp.connect(port, opts.localAddress ? { localAddress: opts.localAddress } : {}));
  const greeting = await c.reply();
  if (!greeting.startsWith('220')) throw new Error(`unexpected greeting: ${greeting}`);
  const ehlo = await c.cmd(`EHLO ${opts.ehlo ?? 'client.example'}`);
  if (!ehlo.startsWith('250')) throw new Error(`unexpected EHLO reply: ${ehlo}`);
  return c;
}

/** The messages a smart host accepted whose bytes contain `token` (a per-test marker in the Subject). */
export const withToken = (host: SmartHost, token: string): ReceivedMessage[] =>
  host.messages.filter((m) => m.raw.includes(token));

export async function waitForToken(host: SmartHost, token: string, timeoutMs = 10_000): Promise<ReceivedMessage> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = withToken(host, token)[0];
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`no message with ${token} within ${timeoutMs} ms (${host.messages.length} received)`);
    await delay(25);
  }
}

/** Offset of the first CR not followed by LF or LF not preceded by CR; -1 when every newline is CRLF. */
export function bareNewlineAt(buf: Buffer): number {
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] === 0x0d && buf[i + 1] !== 0x0a) return i;
    if (buf[i] === 0x0a && buf[i - 1] !== 0x0d) return i;
  }
  return -1;
}

/** Resident set size of a process in KiB, from /proc/<pid>/status (Linux). */
export function vmRssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

/** Whether the daemon is alive and still answers a fresh EHLO (the "keeps serving" probe). */
export async function stillServing(sluice: SluiceProcess): Promise<boolean> {
  if (sluice.proc.exitCode !== null || sluice.proc.signalCode !== null) return false;
  const c = await openSession(sluice.port, { ehlo: 'probe.example' }).catch(() => null);
  if (!c) return false;
  const bye = await c.cmd('QUIT').catch(() => '');
  c.close();
  return bye.startsWith('221');
}

/** Signs of a crash or an unhandled promise rejection in the daemon's stderr or logs. */
export function crashSigns(sluice: SluiceProcess): string[] {
  const signs: string[] = [];
  if (/unhandled|uncaught|TypeError|RangeError|ReferenceError|at .+\.js:\d+/i.test(sluice.stderr)) signs.push(`stderr: ${sluice.stderr.slice(0, 500)}`);
  for (const l of sluice.logs) {
    const level = l.level as number | string | undefined;
    if (level === 60 || level === 'fatal' || /unhandled|uncaught/i.test(String(l.msg ?? ''))) signs.push(JSON.stringify(l).slice(0, 300));
  }
  return signs;
}

/** RawSmtp over the TLS socket of an upgraded session, closed with the other tracked clients. */
export class Dialog extends RawSmtp {
  constructor(stream: Duplex) {
    super(stream);
    track(this);
  }
}

/** Upgrades a RawSmtp socket (after its "220" to STARTTLS) to TLS, optionally with a client certificate. */
export function upgrade(raw: RawSmtp, cert?: { cert: string; key: string }): Promise<tls.TLSSocket> {
  raw.socket.removeAllListeners('data');
  return new Promise((resolve, reject) => {
    const s = tls.connect({ socket: raw.socket, rejectUnauthorized: false, servername: 'localhost', ...(cert ?? {}) });
    const timer = setTimeout(() => reject(new Error('TLS handshake timed out')), 10_000);
    s.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
