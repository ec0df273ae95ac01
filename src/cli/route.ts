// `sluice route`: explains, without sending anything, what Sluice would do with a message:
// the inbound connector (and why), the relay verdict with its SMTP reply, and each recipient's
// outbound connector with the rule that chose it. Runs the same pure core as the listener.
// Without --ip (and --cert-name) the session is an anonymous internet sender, and it says so.
import { loadConfigFile, ConfigError, formatIssues } from '../config/load.js';
import { classifySession } from '../classify/classify-session.js';
import { decideRecipient, decideSender } from '../policy/relay.js';
import type { Verdict } from '../domain/verdict.js';
import { createLogger } from '../observe/log.js';
import { runOffline, type OfflineOutcome } from '../filters/offline-run.js';

export interface RouteArgs {
  config: string;
  from: string;
  to: string[];
  /** Omitted: an internet address that no connector's senderIPAddresses lists. */
  ip?: string | undefined;
  certName?: string | undefined;
  tls?: boolean | undefined;
  json?: boolean | undefined;
  /** A message file: run the protection pipeline on it as well (offline, nothing delivered). */
  message?: string | undefined;
}

const reply = (v: Verdict) => (v.kind === 'accept' ? '250 2.1.5 Recipient OK' : `${v.code} ${v.enhanced} ${v.text}`);

export async function runRoute(args: RouteArgs): Promise<number> {
  let model;
  try {
    model = await loadConfigFile(args.config);
  } catch (err) {
    process.stderr.write((err instanceof ConfigError ? formatIssues(err.issues) : (err as Error).message) + '\n');
    return 1;
  }
  // '' parses as no address, so it matches no senderIPAddresses rule: exactly an unlisted internet peer.
  const facts = { ip: args.ip ?? '', tls: Boolean(args.tls || args.certName), certNames: args.certName ? [args.certName] : [] };
  const classified = classifySession(model, facts);
  const cls = args.ip || args.certName ? classified : { ...classified, reason: `${classified.reason} (no --ip or --cert-name given: an internet sender)` };
  const sender = decideSender(model, facts, cls, args.from);
  const recipients = args.to.map((to) => {
    const d = sender.kind === 'accept' ? decideRecipient(model, facts, cls, args.from, to) : null;
    const verdict = d?.verdict ?? sender;
    const route = d?.route;
    return {
      recipient: to,
      verdict: verdict.kind,
      reply: reply(verdict),
      reason: verdict.reason,
      outbound:
        verdict.kind !== 'accept' || !route
          ? null
          : { kind: route.kind, connector: route.kind === 'connector' ? route.connector.name : null, rule: route.rule },
    };
  });
  let filters: OfflineOutcome | null = null;
  const accepted = recipients.filter((r) => r.verdict === 'accept' && r.outbound);
  if (args.message && accepted.length) {
    const session = { sessionId: 'route', peerIp: facts.ip, clientIp: facts.ip, helo: '', tls: facts.tls, certNames: facts.certNames, inbound: cls.connector, matchedBy: cls.matchedBy };
    const envelope = { mailFrom: args.from, rcpts: accepted.map((r) => ({ address: r.recipient, route: r.outbound! })) };
    try {
      filters = await runOffline(model, args.message, session, envelope, createLogger('silent'));
    } catch (err) {
      process.stderr.write(`route: cannot run the filters on ${args.message}: ${(err as Error).message}\n`);
      return 1;
    }
  }
  const result = {
    inbound: { ip: args.ip ?? null, connector: cls.connector?.name ?? null, type: cls.connector?.connectorType ?? null, matchedBy: cls.matchedBy, reason: cls.reason },
    sender: { address: args.from, verdict: sender.kind, reply: sender.kind === 'accept' ? '250 2.1.0 Sender OK' : reply(sender), reason: sender.reason },
    recipients,
    ...(filters ? { filters } : {}),
  };
  if (args.json) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } else {
    const lines = [
      `inbound:  ${result.inbound.connector ?? '(anonymous internet sender)'}${result.inbound.type ? ` [${result.inbound.type}]` : ''} — ${cls.reason}`,
      `sender:   <${args.from}> ${result.sender.reply} — ${sender.reason}`,
      ...recipients.map((r) => {
        const where = r.outbound
          ? r.outbound.kind === 'connector'
            ? `→ outbound connector "${r.outbound.connector}" (${r.outbound.rule})`
            : `→ ${r.outbound.kind} (${r.outbound.rule})`
          : '';
        return `rcpt:     <${r.recipient}> ${r.reply} — ${r.reason} ${where}`.trimEnd();
      }),
      ...(filters ? filterLines(filters) : []),
    ];
    process.stdout.write(lines.join('\n') + '\n');
  }
  return recipients.every((r) => r.verdict === 'accept') && !(filters && !filters.reply.startsWith('250')) ? 0 : 2;
}

function filterLines(f: OfflineOutcome): string[] {
  const verdicts = f.verdicts.length
    ? f.verdicts.map((v, i) => `${i ? '          ' : 'filters:  '}${v.filter} (${v.stage}): ${v.verdict} — ${v.reason}${v.scl !== undefined ? ` [SCL ${v.scl}]` : ''} (${v.ms} ms)`)
    : ['filters:  none enabled'];
  const groups = f.groups.map((g) => `          ${g.disposition} → ${g.recipients.map((r) => `<${r}>`).join(', ')}${g.headerEdits ? ` (${g.headerEdits} header edit${g.headerEdits === 1 ? '' : 's'})` : ''}`);
  return [...verdicts, `outcome:  ${f.reply} (at ${f.at})`, ...groups];
}
