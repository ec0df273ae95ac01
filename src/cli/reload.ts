// `sluice reload`: asks the running daemon (over <spool.dir>/control.sock) to reload its config
// file and prints what happened: the settings that changed, those that wait for a restart, or
// every error with file, line and key path. Exit 0 applied, 1 refused or no daemon.
import { controlRequest } from '../queue/control.js';
import { spoolOfConfig } from './daemon-spool.js';

interface ReloadData {
  changed?: string[];
  pendingRestart?: string[];
  listen?: { opened?: { host: string; port: number }[]; retiring?: string[]; failed?: { address: string; error: string }[] };
}

export async function runReload(args: { config: string; json: boolean }): Promise<number> {
  const { spoolDir } = await spoolOfConfig(args.config);
  let reply;
  try {
    reply = await controlRequest(spoolDir, { op: 'reload' });
  } catch (err) {
    process.stderr.write(`sluice reload: ${(err as Error).message}\n`);
    return 1;
  }
  if (reply.mode === 'offline') {
    process.stderr.write(`sluice reload: ${reply.reason}; nothing to reload\n`);
    return 1;
  }
  const res = reply.response;
  if (args.json) {
    process.stdout.write(JSON.stringify(res.ok ? { ok: true, ...(res.data as object) } : { ok: false, errors: res.error }, null, 2) + '\n');
    return res.ok ? 0 : 1;
  }
  if (!res.ok) {
    process.stderr.write(`sluice reload: configuration rejected; the daemon keeps the running one:\n${res.error}\n`);
    return 1;
  }
  const d = (res.data ?? {}) as ReloadData;
  const lines = [`configuration reloaded${d.changed?.length ? `; changed: ${d.changed.join(', ')}` : '; no setting changed'}`];
  for (const a of d.listen?.opened ?? []) lines.push(`now listening on ${a.host}:${a.port}`);
  for (const a of d.listen?.retiring ?? []) lines.push(`stopped accepting on ${a}; it closes when its sessions end`);
  for (const f of d.listen?.failed ?? []) lines.push(`cannot listen on ${f.address}: ${f.error}`);
  if (d.pendingRestart?.length) lines.push(`apply at the next restart: ${d.pendingRestart.join(', ')}`);
  process.stdout.write(lines.join('\n') + '\n');
  return d.listen?.failed?.length ? 1 : 0;
}
