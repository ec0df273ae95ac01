#!/usr/bin/env node
// The `sluice` command: parses arguments and dispatches to one file per command. Commands are
// loaded when used, so `sluice queue list` does not pay for loading the daemon (~0.3 s).
import { parseArgs } from 'node:util';

const HELP = `Usage: sluice <command> [options]

Commands:
  start  --config FILE            run the gateway in the foreground (JSON logs on stdout;
                                  SIGTERM/SIGINT stop gracefully, SIGHUP reloads the config)
  check  --config FILE [--json]   validate a config; exit 0, or 1 listing every error
  route  --config FILE --from ADDR --to ADDR [--to ADDR ...] [--ip IP]
         [--cert-name NAME] [--tls] [--json]
                                  explain the inbound connector, relay verdict and outbound
                                  connector for a message, without sending anything (no --ip
                                  and no --cert-name: an anonymous internet sender)
                                  (exit 0 all recipients accepted, 2 some refused, 1 error)
  queue  list [--connector NAME] [--status active|deferred|hold|failed] [--json]
         show ID [--json] | retry ID|--all | hold ID | release ID | delete ID | bounce ID
                                  inspect and manage the mail queue of the config's spool.dir
                                  (through the running daemon, else on the files directly;
                                  \`sluice queue --help\` for details)
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
    case 'check':
      return (await import('./check.js')).runCheck({ config, json: values.json });
    case 'route':
      if (values.from === undefined || !values.to?.length) {
        process.stderr.write('sluice route: --from and --to are required\n');
        return 1;
      }
      return (await import('./route.js')).runRoute({ config, from: values.from, to: values.to, ip: values.ip, certName: values['cert-name'], tls: values.tls, json: values.json });
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
