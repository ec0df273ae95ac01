#!/usr/bin/env node
// The `sluice` command: parses arguments and dispatches to one file per command. Commands are
// loaded when used, so `sluice queue list` does not pay for loading the daemon (~0.3 s).
import { parseArgs } from 'node:util';

const HELP = `Usage: sluice <command> [options]

Commands:
  start  --config FILE            run the gateway in the foreground (JSON logs on stdout;
                                  SIGTERM/SIGINT drain and stop: new sessions get 421 4.3.2,
                                  sessions in flight may finish within server.drainTimeout;
                                  SIGHUP reloads the config)
  reload --config FILE [--json]   ask the running daemon to reload its config file and print
                                  the outcome (errors with file, line and key path; exit 1)
  connectors --config FILE [--json]
                                  every inbound and outbound connector: matching, routing, TLS,
                                  limits, last validation; queue depth, connections and
                                  host-down marks from the running daemon
  validate [outbound] NAME [--recipient ADDR ...] [--json]
  validate inbound [NAME] --ip IP [--cert FILE] [--json]
                                  test an outbound connector stage by stage (Resolve, Connect,
                                  EHLO, TLS, Send), or explain which inbound connector a
                                  session would match (\`sluice validate --help\`)
  check  --config FILE [--json]   validate a config; exit 0, or 1 listing every error
  route  --config FILE --from ADDR --to ADDR [--to ADDR ...] [--ip IP]
         [--cert-name NAME] [--tls] [--message FILE] [--json]
                                  explain the inbound connector, relay verdict and outbound
                                  connector for a message, without sending anything (no --ip
                                  and no --cert-name: an anonymous internet sender); with
                                  --message, also run the filters on that file and print
                                  each filter's verdict and the outcome
                                  (exit 0 all recipients accepted, 2 some refused, 1 error)
  queue  list [--connector NAME] [--status active|deferred|hold|failed] [--json]
         show ID [--json] | retry ID|--all | hold ID | release ID | delete ID | bounce ID
                                  inspect and manage the mail queue of the config's spool.dir
                                  (through the running daemon, else on the files directly;
                                  \`sluice queue --help\` for details)
  certs  init [--dir certs] [--hostname NAME] [--client NAME ...] [--days N] [--force]
         show FILE [--config FILE]
                                  development certificates for try-outs, and which inbound
                                  connectors a certificate would match (\`sluice certs --help\`)
  config push FILE [--config LOCAL] | show [--version N] | versions [--json]
                                  configuration versions in PostgreSQL for replicas with
                                  config.source: postgres; push validates FILE as check does
                                  and stores it only if valid (\`sluice config --help\`)
  schema [-o FILE]                print the configuration's JSON Schema (for editors)
  quarantine list [--type T] [--sender A] [--recipient B] [--since 7d] [--json]
         show ID | export ID | release ID [--recipient B ...] [--all] | delete ID
                                  messages a filter held (\`sluice quarantine --help\`)
  dkim   keygen --domain DOMAIN --selector SEL [--dir DIR] [--bits N] [--force]
                                  write an RSA key for dkimSigning to DIR/DOMAIN.SEL.key
                                  (default DIR certs/dkim, mode 0600, never overwritten
                                  without --force) and print the DNS TXT record to publish
  trace  [--sender ADDR] [--recipient ADDR] [--message-id ID] [--since 48h] [--until ...]
         [--status Delivered|Failed|Pending|Quarantined|FilteredAsSpam|Expanded] [--json]
         | --details QUEUE_ID
                                  message trace: one row per message and recipient, or
                                  every event of one message (\`sluice trace --help\`)
  cluster status [--json] | release-spool (--spool DIR | --spool-id ID)
                                  replicas of a cluster (alive or dead, heartbeat, queue depth,
                                  connections, spool leases), and handing an adopted spool back
                                  to its replica; reads PostgreSQL (\`sluice cluster --help\`)
  import-eop --inbound FILE --outbound FILE [--accepted-domains FILE]
         [--connection-filter FILE] [--transport-rules FILE] [-o FILE]
                                  write a commented Sluice config from an EOP tenant's
                                  ConvertTo-Json exports; what it cannot import is listed
                                  (\`sluice import-eop --help\` for the cmdlets to run)

Options:
  -c, --config FILE   configuration file (default: config/sluice.yaml)
  -h, --help          this help
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(HELP);
    return command ? 0 : 1;
  }
  // Subcommands and positional ids: the queue tools parse their own arguments.
  if (command === 'queue') return (await import('./queue.js')).runQueue(rest);
  if (command === 'certs') return (await import('./certs.js')).runCerts(rest);
  if (command === 'schema') return (await import('./schema.js')).runSchema(rest);
  if (command === 'quarantine') return (await import('./quarantine.js')).runQuarantine(rest);
  if (command === 'dkim') return (await import('./dkim.js')).runDkim(rest);
  if (command === 'trace') return (await import('./trace.js')).runTrace(rest);
  if (command === 'validate') return (await import('./validate.js')).runValidate(rest);
  if (command === 'config') return (await import('./config.js')).runConfig(rest);
  if (command === 'cluster') return (await import('./cluster.js')).runCluster(rest);
  if (command === 'import-eop') return (await import('./import-eop.js')).runImportEop(rest);
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        config: { type: 'string', short: 'c', default: 'config/sluice.yaml' },
        json: { type: 'boolean', default: false },
        from: { type: 'string' },
        to: { type: 'string', multiple: true },
        ip: { type: 'string' },
        'cert-name': { type: 'string' },
        tls: { type: 'boolean', default: false },
        message: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`sluice: ${(err as Error).message}\n\n${HELP}`);
    return 1;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const config = values.config!;
  switch (command) {
    case 'start':
      return (await import('./start.js')).runStart({ config });
    case 'reload':
      return (await import('./reload.js')).runReload({ config, json: values.json });
    case 'connectors':
      return (await import('./connectors.js')).runConnectors({ config, json: values.json });
    case 'check':
      return (await import('./check.js')).runCheck({ config, json: values.json });
    case 'route':
      if (values.from === undefined || !values.to?.length) {
        process.stderr.write('sluice route: --from and --to are required\n');
        return 1;
      }
      return (await import('./route.js')).runRoute({ config, from: values.from, to: values.to, ip: values.ip, certName: values['cert-name'], tls: values.tls, json: values.json, message: values.message });
    default:
      process.stderr.write(`sluice: unknown command "${command}"\n\n${HELP}`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`sluice: ${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  },
);
