// `sluice dkim keygen`: creates the RSA key a dkimSigning entry points at and prints the DNS TXT
// record that publishes its public half (RFC 6376 §3.6.1). The key file is written with mode
// 0600 and an existing one is never replaced without --force: a new key breaks verification of
// mail signed with the old one until DNS is updated.
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { normaliseDomain } from '../domain/match.js';

const HELP = `Usage: sluice dkim keygen --domain DOMAIN --selector SELECTOR [--dir DIR] [--bits N] [--force]

Writes DIR/DOMAIN.SELECTOR.key (PEM, mode 0600; DIR defaults to certs/dkim) and prints the
TXT record to publish, e.g.
  selector1._domainkey.contoso.com IN TXT "v=DKIM1; k=rsa; p=MIIBIjAN..."
Then add to the config:
  dkimSigning:
    - { domain: DOMAIN, selector: SELECTOR, privateKey: DIR/DOMAIN.SELECTOR.key, enabled: true }

Options:
  --bits N   RSA key size, 1024-4096 (default 2048)
  --force    replace an existing key file
`;

const SELECTOR = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** One DNS character-string holds at most 255 octets; zone files join adjacent strings. */
const TXT_STRING_MAX = 255;

/** The TXT record in zone-file syntax, the value split into strings of at most 255 octets. */
export function txtRecord(domain: string, selector: string, publicKeyDer: Buffer): string {
  const value = `v=DKIM1; k=rsa; p=${publicKeyDer.toString('base64')}`;
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += TXT_STRING_MAX) parts.push(`"${value.slice(i, i + TXT_STRING_MAX)}"`);
  return `${selector}._domainkey.${domain} IN TXT ${parts.join(' ')}`;
}

export function runDkim(argv: string[]): number {
  const [sub, ...rest] = argv;
  if (sub === '-h' || sub === '--help' || sub === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (sub !== 'keygen') {
    process.stderr.write(`sluice dkim: unknown subcommand ${sub ? `"${sub}"` : '(none)'}\n\n${HELP}`);
    return 1;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        domain: { type: 'string' },
        selector: { type: 'string' },
        dir: { type: 'string', default: 'certs/dkim' },
        bits: { type: 'string', default: '2048' },
        force: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`sluice dkim keygen: ${(err as Error).message}\n\n${HELP}`);
    return 1;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const domain = values.domain ? normaliseDomain(values.domain.trim()) : null;
  const selector = values.selector?.trim().toLowerCase() ?? '';
  const bits = Number(values.bits);
  if (!domain) return fail('--domain must be a domain name, e.g. contoso.com');
  if (!SELECTOR.test(selector)) return fail('--selector must be one or more DNS labels, e.g. selector1');
  if (!Number.isInteger(bits) || bits < 1024 || bits > 4096) return fail('--bits must be an integer from 1024 to 4096');
  const file = path.join(values.dir!, `${domain}.${selector}.key`);
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  try {
    mkdirSync(values.dir!, { recursive: true, mode: 0o700 });
    // 'wx' refuses to replace a file; the mode applies to the file as created.
    writeFileSync(file, pem, { mode: 0o600, flag: values.force ? 'w' : 'wx' });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EEXIST') return fail(`${file} exists; use --force to replace it (mail signed with the old key then fails verification)`);
    return fail(`cannot write ${file}: ${e.message}`);
  }
  const der = publicKey.export({ type: 'spki', format: 'der' });
  process.stderr.write(`wrote ${file}\n`);
  process.stdout.write(txtRecord(domain, selector, der) + '\n');
  return 0;
}

function fail(message: string): number {
  process.stderr.write(`sluice dkim keygen: ${message}\n`);
  return 1;
}
