// `sluice start`: runs the gateway in the foreground until SIGTERM/SIGINT; SIGHUP reloads.
import { startDaemon } from '../daemon.js';
import { createLogger } from '../observe/log.js';
import { ConfigError, formatIssues } from '../config/load.js';

export async function runStart(args: { config: string }): Promise<number> {
  const log = createLogger();
  let daemon;
  try {
    daemon = await startDaemon(args.config, log);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(formatIssues(err.issues) + '\n');
    } else {
      const e = err as Error & { code?: string; details?: Record<string, unknown> };
      log.fatal({ stage: 'start', code: e.code, err: e.message, ...e.details }, 'cannot start');
      process.stderr.write(`sluice: cannot start: ${e.message}${e.code?.startsWith('E_') ? ` (${e.code})` : ''}\n`);
    }
    return 1;
  }
  process.on('SIGHUP', () => void daemon.reload());
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ stage: 'stop', signal }, 'signal received');
      daemon.stop().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // The daemon already stopped itself (its spool went to another replica): exit 1, named.
    void daemon.fenced.then((err) => {
      stopping = true;
      process.stderr.write(`sluice: stopped: ${err.message} (${err.code})\n`);
      resolve(1);
    });
  });
}
