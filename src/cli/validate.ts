// `sluice validate`: EOP's Validate-OutboundConnector and Validate-InboundConnector.
//   outbound: each stage (Resolve, Connect, EHLO, TLS, Send) with status, time and detail; the
//             result is kept as the connector's lastValidation (shown by `sluice connectors`).
//   inbound:  which inbound connector a session from --ip (with the --cert client certificate)
//             would match and why: the listener's classify core, without an envelope.
// Exit 0 only when every stage passed (outbound) or the session matches (inbound).
import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { parseArgs } from 'node:util';
import { loadConfigFile, ConfigError, formatIssues } from '../config/load.js';
import type { Model } from '../domain/model.js';
import { classifySession } from '../classify/classify-session.js';
import { validateOutbound, type ValidationReport } from '../delivery/validate-connector.js';
import { saveValidation } from '../observe/last-validation.js';

export const VALIDATE_HELP = `Usage:
  sluice validate [outbound] NAME [--recipient ADDR ...] [--json] [--config FILE]
      connect to the outbound connector's smart hosts (or, with useMxRecord, the recipient's MX)
      and report each stage: Resolve, Connect, EHLO, TLS (tlsSettings, the certificate presented),
      Send (a test message to validationRecipients or --recipient, through the delivery path).
  sluice validate inbound [NAME] --ip IP [--cert FILE] [--json] [--config FILE]
  sluice validate --inbound [NAME] --ip IP [--cert FILE] [--json] [--config FILE]
      which inbound connector a session from IP (presenting the PEM client certificate FILE,
      checked against server.tls.clientCa) would match, and why.
Exit 0 when every stage passed (the session matches NAME, or any connector), 1 otherwise.
`;

const fail = (msg: string): number => {
  process.stderr.write(msg.endsWith('\n') ? msg : msg + '\n');
  return 1;
};

/** The names a client certificate vouches for, as the listener takes them: only when it verifies. */
async function certFacts(model: Model, file: string): Promise<{ names: string[]; verified: boolean; note: string }> {
  const cert = new X509Certificate(await readFile(file));
  const cas = await Promise.all(model.server.tls.clientCa.map(async (f) => new X509Certificate(await readFile(f))));
  const issuer = cas.find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
  const now = Date.now();
  const timeValid = Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1] ?? null;
  const sans = (cert.subjectAltName ?? '').split(/,\s*/).filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4));
  if (!issuer) return { names: [], verified: false, note: `certificate CN=${cn} is not issued by a server.tls.clientCa authority: it identifies no connector` };
  if (!timeValid) return { names: [], verified: false, note: `certificate CN=${cn} is outside its validity (${cert.validFrom} – ${cert.validTo})` };
  const names = [...new Set([...(cn ? [cn] : []), ...sans].map((n) => n.toLowerCase()))];
  return { names, verified: true, note: `certificate verified against server.tls.clientCa; names ${names.join(', ')}` };
}

async function inbound(model: Model, name: string | undefined, ip: string, certFile: string | undefined, json: boolean): Promise<number> {
  if (name !== undefined && !model.inboundConnectors.some((c) => c.name === name)) return fail(`sluice validate: no inbound connector named "${name}"`);
  const cert = certFile ? await certFacts(model, certFile) : null;
  const facts = { ip, tls: cert !== null, certNames: cert?.names ?? [] };
  const cls = classifySession(model, facts);
  const wanted = name !== undefined ? model.inboundConnectors.find((c) => c.name === name)! : null;
  const matched = wanted ? cls.connector?.name === wanted.name : cls.connector !== null;
  const result = {
    ip,
    certificate: cert,
    connector: cls.connector?.name ?? null,
    type: cls.connector?.connectorType ?? null,
    matchedBy: cls.matchedBy,
    reason: cls.reason,
    ...(wanted ? { expected: wanted.name, enabled: wanted.enabled } : {}),
    matched,
  };
  if (json) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } else {
    const lines = [`session from ${ip}${cert ? ` with a client certificate (${cert.note})` : ' without a client certificate'}`];
    lines.push(`matches:  ${cls.connector ? `${cls.connector.name} [${cls.connector.connectorType}] by ${cls.matchedBy}` : '(no connector: an anonymous internet sender)'}`);
    lines.push(`reason:   ${cls.reason}`);
    if (wanted) lines.push(`${wanted.name}: ${matched ? 'matched' : `not matched${wanted.enabled ? '' : ' (the connector is disabled)'}`}`);
    process.stdout.write(lines.join('\n') + '\n');
  }
  return matched ? 0 : 1;
}

function formatReport(r: ValidationReport): string {
  const lines = [`Validate outbound connector "${r.connector}"${r.recipients.length ? ` (test message to ${r.recipients.join(', ')})` : ''}`];
  for (const s of r.stages) {
    lines.push(`  ${s.status.toUpperCase().padEnd(7)} ${s.stage.padEnd(8)} ${String(s.ms).padStart(5)} ms  ${s.target ? `${s.target}  ` : ''}${s.detail}`);
    const ext = s.data?.extensions as string[] | undefined;
    if (ext?.length) lines.push(`                              extensions: ${ext.join(', ')}`);
    if (s.stage === 'TLS' && s.data) {
      const d = s.data;
      lines.push(`                              certificate: CN=${d.subject ?? '(none)'}; SAN ${(d.sans as string[]).join(', ') || '-'}; issuer ${d.issuer ?? '?'}; expires ${d.validTo ?? '?'}`);
    }
  }
  lines.push(r.passed ? 'Result: passed' : 'Result: failed');
  return lines.join('\n') + '\n';
}

async function outbound(model: Model, name: string, recipients: string[], json: boolean): Promise<number> {
  const c = model.outboundConnectors.find((x) => x.name === name);
  if (!c) return fail(`sluice validate: no outbound connector named "${name}" (known: ${model.outboundConnectors.map((x) => x.name).join(', ') || 'none'})`);
  const report = await validateOutbound(model, c, recipients);
  const failedStage = report.stages.find((s) => s.status !== 'passed');
  try {
    await saveValidation(model.spool.dir, {
      connector: c.name,
      direction: 'outbound',
      at: report.at,
      passed: report.passed,
      failedStage: failedStage ? { stage: failedStage.stage, detail: failedStage.detail } : null,
    });
  } catch (err) {
    process.stderr.write(`sluice validate: result not kept: ${(err as Error).message}\n`);
  }
  process.stdout.write(json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
  return report.passed ? 0 : 1;
}

export async function runValidate(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c', default: 'config/sluice.yaml' },
        json: { type: 'boolean', default: false },
        recipient: { type: 'string', multiple: true },
        inbound: { type: 'boolean', default: false },
        ip: { type: 'string' },
        cert: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    });
  } catch (err) {
    return fail(`sluice validate: ${(err as Error).message}\n\n${VALIDATE_HELP}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(VALIDATE_HELP);
    return 0;
  }
  let [first, ...rest] = positionals;
  let direction: 'inbound' | 'outbound' = values.inbound ? 'inbound' : 'outbound';
  if (first === 'inbound' || first === 'outbound') {
    direction = first;
    [first, ...rest] = rest;
  }
  if (rest.length) return fail(`sluice validate: one connector name at a time (quote a name with spaces)\n\n${VALIDATE_HELP}`);
  let model: Model;
  try {
    model = await loadConfigFile(values.config!);
  } catch (err) {
    return fail(err instanceof ConfigError ? formatIssues(err.issues) : (err as Error).message);
  }
  if (direction === 'inbound') {
    if (!values.ip) return fail(`sluice validate: --ip is required for an inbound check\n\n${VALIDATE_HELP}`);
    return inbound(model, first, values.ip, values.cert, values.json!);
  }
  if (!first) return fail(`sluice validate: name the outbound connector\n\n${VALIDATE_HELP}`);
  return outbound(model, first, values.recipient ?? [], values.json!);
}
