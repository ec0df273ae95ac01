// `sluice certs init|show`: development certificates for try-outs, and what a certificate would
// identify under a config. Parses its own arguments (a subcommand and, for show, a file).
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ConfigError, formatIssues, loadConfigFile } from '../config/load.js';
import { normaliseDomain } from '../domain/match.js';
import { DEFAULT_CERT_DAYS, existingFiles, planCertificates, writeCertificates } from '../certs/init.js';
import { formatReport, reportCertificate } from '../certs/inspect.js';

export const CERTS_HELP = `Usage:
  sluice certs init [--dir certs] [--hostname gateway.example] [--client mail.contoso.com ...]
                    [--days ${DEFAULT_CERT_DAYS}] [--force]
      make a development CA (ca.crt, ca.key), Sluice's server certificate (server.crt/.key) and
      a client certificate per on-premises server (NAME.crt/.key), and print the server.tls
      block and the Postfix lines that use them. For testing only. Existing files are left
      alone (exit 1) unless --force.
  sluice certs show FILE [--config FILE]
      print a PEM certificate's subject, SANs, issuer and validity, and which inbound connectors
      of the config (default config/sluice.yaml, if present) it would be matched to.
`;

const fail = (text: string): number => {
  process.stderr.write(`sluice certs: ${text}\n`);
  return 1;
};

export async function runCerts(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '-h' || sub === '--help' || sub === 'help') {
    process.stdout.write(CERTS_HELP);
    return sub ? 0 : 1;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        dir: { type: 'string', default: 'certs' },
        hostname: { type: 'string', default: 'gateway.example' },
        client: { type: 'string', multiple: true, default: [] },
        days: { type: 'string', default: String(DEFAULT_CERT_DAYS) },
        force: { type: 'boolean', default: false },
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    return fail(`${(err as Error).message}\n\n${CERTS_HELP}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(CERTS_HELP);
    return 0;
  }
  if (sub === 'init') return init(values, positionals);
  if (sub === 'show') return show(positionals, values.config);
  return fail(`unknown subcommand "${sub}"\n\n${CERTS_HELP}`);
}

async function init(
  values: { dir: string; hostname: string; client: string[]; days: string; force: boolean },
  positionals: string[],
): Promise<number> {
  if (positionals.length > 0) return fail(`unexpected argument "${positionals[0]}"`);
  const days = Number(values.days);
  if (!Number.isInteger(days) || days < 1) return fail(`--days must be a whole number of days, got "${values.days}"`);
  const names = [values.hostname, ...values.client];
  const bad = names.find((n) => !normaliseDomain(n));
  if (bad !== undefined) return fail(`"${bad}" is not a host name`);
  const plan = planCertificates({ dir: values.dir, hostname: values.hostname, clients: values.client, days });
  const present = await existingFiles(plan.files);
  if (present.length > 0 && !values.force) {
    return fail(`not overwriting existing files (use --force to replace them): ${present.join(', ')}`);
  }
  await writeCertificates(values.dir, plan.files, values.force);
  process.stdout.write(`wrote ${plan.files.map((f) => f.path).join(', ')}\n\n${plan.advice}`);
  return 0;
}

async function show(positionals: string[], config: string | undefined): Promise<number> {
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0) return fail('certs show takes exactly one certificate file');
  let cert;
  try {
    cert = new X509Certificate(await readFile(file));
  } catch (err) {
    return fail(`cannot read a PEM certificate from ${file}: ${(err as Error).message}`);
  }
  // Without --config the default config is used only if it exists: show still works on a bare file.
  const configFile = config ?? 'config/sluice.yaml';
  let model = null;
  try {
    model = await loadConfigFile(configFile);
  } catch (err) {
    const missing = err instanceof ConfigError && err.issues.length === 1 && err.issues[0]?.line === 0;
    if (config !== undefined || !missing) {
      return fail(err instanceof ConfigError ? formatIssues(err.issues) : (err as Error).message);
    }
  }
  const cas: [string, X509Certificate][] = [];
  for (const path of model?.server.tls.clientCa ?? []) {
    try {
      cas.push([path, new X509Certificate(await readFile(path))]);
    } catch {
      // An unreadable CA file trusts nothing; `sluice start` reports it.
    }
  }
  process.stdout.write(formatReport(reportCertificate(cert, model, cas, new Date()), model ? configFile : null));
  return 0;
}
