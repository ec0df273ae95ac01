// `sluice certs init`: a development CA, Sluice's server certificate and one client certificate per
// on-premises server, as PEM files in one directory, plus the config and Postfix lines that use them.
// For try-outs only; refuses to overwrite an existing file unless `force` is set.
import { constants } from 'node:fs';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join, relative, isAbsolute } from 'node:path';
import { createCa, createCert } from './generate.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const KEY_FILE_MODE = 0o600;
const CERT_FILE_MODE = 0o644;
export const DEFAULT_CERT_DAYS = 825; // the longest leaf lifetime Apple's TLS clients accept

export interface CertsInitOptions {
  dir: string;
  hostname: string;
  clients: readonly string[];
  days: number;
}

export interface PlannedFile {
  path: string;
  content: string;
  mode: number;
}

export interface CertsInitResult {
  files: PlannedFile[];
  /** What to print: the server.tls block and, per client, the Postfix main.cf lines. */
  advice: string;
}

/** A file name for a host name: "mail.contoso.com" → "mail.contoso.com"; anything odd becomes "_". */
const fileStem = (name: string): string => name.toLowerCase().replace(/[^a-z0-9.-]/g, '_');

export function planCertificates(opts: CertsInitOptions, now = new Date()): CertsInitResult {
  const notBefore = new Date(now.getTime() - 60 * 60 * 1000);
  const notAfter = new Date(now.getTime() + opts.days * DAY_MS);
  const ca = createCa('Sluice Development CA (testing only)', { notBefore, notAfter: new Date(now.getTime() + Math.max(opts.days, 3650) * DAY_MS) });
  const server = createCert({ ca, cn: opts.hostname, sans: [...new Set([opts.hostname, 'localhost', '127.0.0.1'])], usage: 'both', notBefore, notAfter });
  const files: PlannedFile[] = [
    { path: join(opts.dir, 'ca.crt'), content: ca.cert, mode: CERT_FILE_MODE },
    { path: join(opts.dir, 'ca.key'), content: ca.key, mode: KEY_FILE_MODE },
    { path: join(opts.dir, 'server.crt'), content: server.cert, mode: CERT_FILE_MODE },
    { path: join(opts.dir, 'server.key'), content: server.key, mode: KEY_FILE_MODE },
  ];
  for (const name of opts.clients) {
    const client = createCert({ ca, cn: name, sans: [name], usage: 'client', notBefore, notAfter });
    files.push(
      { path: join(opts.dir, `${fileStem(name)}.crt`), content: client.cert, mode: CERT_FILE_MODE },
      { path: join(opts.dir, `${fileStem(name)}.key`), content: client.key, mode: KEY_FILE_MODE },
    );
  }
  return { files, advice: advice(opts) };
}

function advice(opts: CertsInitOptions): string {
  // Config paths are relative to the working directory Sluice starts in, as the README says.
  const rel = (f: string) => {
    const p = join(opts.dir, f);
    return isAbsolute(p) ? relative(process.cwd(), p) || p : p;
  };
  const lines = [
    'Development certificates for testing only (see certs/README.md); never use them in production.',
    '',
    'In the Sluice config:',
    '  server:',
    `    hostname: ${opts.hostname}`,
    '    tls:',
    `      cert: ${rel('server.crt')}`,
    `      key: ${rel('server.key')}`,
    `      clientCa: [${rel('ca.crt')}]`,
  ];
  for (const name of opts.clients) {
    const stem = fileStem(name);
    lines.push(
      '',
      `For the on-premises server ${name}: an inbound connector`,
      '  inboundConnectors:',
      `    - name: From ${name}`,
      '      connectorType: OnPremises',
      `      tlsSenderCertificateName: ${name}`,
      `and its Postfix main.cf (copy ${rel(`${stem}.crt`)} and ${rel(`${stem}.key`)} to /etc/postfix/, ${rel('ca.crt')} as sluice-ca.crt):`,
      `  relayhost = [${opts.hostname}]:2525`,
      `  smtp_tls_cert_file = /etc/postfix/${stem}.crt`,
      `  smtp_tls_key_file = /etc/postfix/${stem}.key`,
      '  smtp_tls_CAfile = /etc/postfix/sluice-ca.crt',
      '  smtp_tls_security_level = secure',
      `  smtp_tls_secure_cert_match = nexthop`,
    );
  }
  return lines.join('\n') + '\n';
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** Paths of planned files that already exist (they block `init` without `force`). */
export async function existingFiles(files: readonly PlannedFile[]): Promise<string[]> {
  const found = await Promise.all(files.map(async (f) => ((await exists(f.path)) ? f.path : null)));
  return found.filter((p): p is string => p !== null);
}

export async function writeCertificates(dir: string, files: readonly PlannedFile[], force: boolean): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const f of files) {
    // 'wx' fails rather than clobber a file that appeared after the check; with force, rewrite.
    await writeFile(f.path, f.content, { flag: force ? 'w' : 'wx', mode: f.mode });
  }
}
