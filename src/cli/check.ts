// `sluice check --config FILE [--json]`: loads a config the way the daemon does (without touching
// certificates or the spool) and reports either a one-line summary (exit 0) or every problem (exit 1).
import { ConfigError, formatIssues, loadConfigFileWithWarnings } from '../config/load.js';

/** Where the report goes; tests pass their own writers (stdout also carries the test runner's protocol). */
export interface CheckOutput {
  out: (text: string) => void;
  err: (text: string) => void;
}

const STD_OUTPUT: CheckOutput = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

export async function runCheck(args: { config: string; json?: boolean }, io: CheckOutput = STD_OUTPUT): Promise<number> {
  try {
    const { model, warnings } = await loadConfigFileWithWarnings(args.config);
    const counts = {
      inboundConnectors: model.inboundConnectors.length,
      outboundConnectors: model.outboundConnectors.length,
      acceptedDomains: model.acceptedDomains.length,
    };
    if (args.json) {
      io.out(JSON.stringify({ ok: true, file: args.config, source: model.source, ...counts, warnings }) + '\n');
    } else {
      // A warning does not fail the check: the config works, but probably not as meant.
      if (warnings.length > 0) io.err(formatIssues(warnings).replace(/^/gm, 'warning: ') + '\n');
      io.out(
        `OK: ${args.config}: ${counts.inboundConnectors} inbound, ${counts.outboundConnectors} outbound connectors, ` +
          `${counts.acceptedDomains} accepted domains\n`,
      );
    }
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    if (args.json) io.out(JSON.stringify({ ok: false, file: args.config, issues: err.issues }) + '\n');
    else io.err(formatIssues(err.issues) + '\n');
    return 1;
  }
}
