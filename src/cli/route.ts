// `sluice route`: explains, without sending anything, what Sluice would do with a message:
// the inbound connector (and why), the relay verdict with its SMTP reply, and each recipient's
// outbound connector with the rule that chose it. Runs the same pure core as the listener.
// Without --ip (and --cert-name) the session is an anonymous internet sender, and it says so.
import { loadConfigFile, ConfigError, formatIssues } from '../config/load.js';
import { classifySession } from '../classify/classify-session.js';
import { decideRecipient, decideSender } from '../policy/relay.js';
import type { Verdict } from '../domain/verdict.js';

export interface RouteArgs {
  config: string;
  from: string;
  to: string[];
  /** Omitted: an internet address that no connector's senderIPAddresses lists. */
  ip?: string | undefined;
  certName?: string | undefined;
  tls?: boolean | undefined;
  json?: boolean | undefined;
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
  const result = {
    inbound: { ip: args.ip ?? null, connector: cls.connector?.name ?? null, type: cls.connector?.connectorType ?? null, matchedBy: cls.matchedBy, reason: cls.reason },
    sender: { address: args.from, verdict: sender.kind, reply: sender.kind === 'accept' ? '250 2.1.0 Sender OK' : reply(sender), reason: sender.reason },
    recipients,
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
    ];
    process.stdout.write(lines.join('\n') + '\n');
  }
  return recipients.every((r) => r.verdict === 'accept') ? 0 : 2;
}
