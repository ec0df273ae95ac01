// A real DNS server for delivery tests: Debian's dnsmasq on 127.0.0.1 and a free port, serving
// only the records a test gives (MX, A via host-record, null MX via a raw RR). Everything under
// the given local domains that is not listed answers NXDOMAIN. stop() kills it (after hooks).
import { Resolver } from 'node:dns/promises';
import { freePort } from './ports.js';
import { spawnPeer } from './peer-process.js';

export interface DnsRecords {
  /** { name, exchange, preference } → MX records. */
  mx?: Array<{ name: string; exchange: string; preference: number }>;
  /** name → IPv4 address (A record; dnsmasq answers PTR for it too). */
  a?: Record<string, string>;
  /** Domains that publish a null MX (RFC 7505: "MX 0 ."). */
  nullMx?: string[];
  /** name → TXT text (SPF, DKIM keys, DMARC policies); split into 255-octet strings. */
  txt?: Record<string, string>;
  /** Zones whose queries dnsmasq forwards to a server that never answers (a DNSBL that is down). */
  deadZones?: string[];
  /** Domains dnsmasq answers authoritatively (NXDOMAIN for unknown names); default ['test']. */
  localDomains?: string[];
}

export interface DnsServer {
  port: number;
  /** For dns.servers in a Sluice config: "127.0.0.1:<port>". */
  address: string;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 5_000;
const START_ATTEMPTS = 3;

export function dnsmasqArgs(port: number, r: DnsRecords): string[] {
  return [
    '--no-daemon',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--pid-file=',
    '--listen-address=127.0.0.1',
    `--port=${port}`,
    '--bind-interfaces',
    ...(r.localDomains ?? ['test']).map((d) => `--local=/${d}/`),
    ...(r.mx ?? []).map((m) => `--mx-host=${m.name},${m.exchange},${m.preference}`),
    ...Object.entries(r.a ?? {}).map(([name, ip]) => `--host-record=${name},${ip}`),
    // RR type 15 (MX), RDATA = preference 0 (0x0000) + the root name (0x00).
    ...(r.nullMx ?? []).map((d) => `--dns-rr=${d},15,000000`),
    // On the command line dnsmasq keeps quotes as data; a comma starts the next string.
    ...Object.entries(r.txt ?? {}).map(([name, text]) => `--txt-record=${name},${(text.match(/.{1,255}/g) ?? ['']).join(',')}`),
    // Port 9 (discard) on loopback: nothing answers, so the client times out.
    ...(r.deadZones ?? []).map((z) => `--server=/${z}/127.0.0.1#9`),
  ];
}

/** Starts dnsmasq on `port` (a free one when omitted) and resolves once it answers queries. */
export async function startDnsmasq(records: DnsRecords, port?: number): Promise<DnsServer> {
  let lastError: unknown;
  for (let i = 0; i < START_ATTEMPTS; i++) {
    const p = port ?? (await freePort());
    try {
      return await launch(p, records);
    } catch (err) {
      lastError = err;
      if (port !== undefined) break; // a fixed port that is taken will not free itself
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

async function launch(port: number, records: DnsRecords): Promise<DnsServer> {
  const { proc, stderr: output, stop } = spawnPeer('dnsmasq', dnsmasqArgs(port, records));
  const resolver = new Resolver({ timeout: 200, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`dnsmasq exited with ${proc.exitCode}: ${output()}`);
    const answered = await resolver.resolve4('ready-probe.invalid').then(
      () => true,
      // Any DNS answer (NXDOMAIN, REFUSED) means it listens; only "no server" means not yet.
      (err: NodeJS.ErrnoException) => err.code !== 'ECONNREFUSED' && err.code !== 'ETIMEOUT',
    );
    if (answered) return { port, address: `127.0.0.1:${port}`, stop };
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`dnsmasq did not answer on port ${port} within ${READY_TIMEOUT_MS} ms: ${output()}`);
}
