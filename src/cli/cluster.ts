// `sluice cluster`: the replica registry and spool leases, read from PostgreSQL directly (the
// config's cluster.postgres.url), so it works on any replica and with no daemon running.
import { parseArgs } from 'node:util';
import path from 'node:path';
import pg from 'pg';
import { ConfigError, formatIssues, loadConfigFile } from '../config/load.js';
import type { Model } from '../domain/model.js';
import { readSpoolId, writeLocalLease } from '../cluster/lease-files.js';
import { listLeases, releaseLease } from '../cluster/lease-store.js';
import { listNodes } from '../cluster/registry.js';
import { clusterStatus, type NodeStatus } from '../cluster/registry-rules.js';

export const CLUSTER_HELP = `Usage: sluice cluster status [--config FILE] [--json]
       sluice cluster release-spool [--config FILE] (--spool DIR | --spool-id ID)

  status          one line per replica in the registry: node id, alive|dead (a heartbeat within
                  cluster.leases.spoolTtl), last heartbeat, queue depth, connections held per
                  outbound connector, its spool lease (owner, epoch, expiry) and the spools of
                  other replicas it adopted. --json: a JSON array, one object per replica.
  release-spool   hand an adopted spool back to its home replica: a new lease epoch, so the
                  adopter stops delivering from it within cluster.leases.spoolRenew and lets go
                  of its lock; then start the home replica. Run it anywhere (on the adopter, or
                  with no daemon running); DIR is the spool directory (as in the adopter's
                  cluster.adoptSpools), ID its spool id (the file DIR/spool-id).
Both read PostgreSQL directly (cluster.postgres.url). Exit 0, or 1 on error.
`;

async function connect(model: Model): Promise<pg.Client> {
  if (!model.cluster.postgresUrl) throw new Error('the config sets no cluster.postgres.url: spool leases and the registry live in PostgreSQL');
  const client = new pg.Client({ connectionString: model.cluster.postgresUrl, connectionTimeoutMillis: 5_000, application_name: 'sluice cluster' });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`cannot reach PostgreSQL (cluster.postgres.url): ${(err as Error).message}`);
  }
  return client;
}

const OPTIONS = {
  config: { type: 'string', short: 'c', default: 'config/sluice.yaml' },
  json: { type: 'boolean', default: false },
  spool: { type: 'string' },
  'spool-id': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const missingTable = (err: unknown) => (err as { code?: string }).code === '42P01';

export async function runCluster(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS, strict: true });
  } catch (e) {
    err.write(`sluice cluster: ${(e as Error).message}\n\n${CLUSTER_HELP}`);
    return 1;
  }
  const { values, positionals } = parsed;
  const sub = positionals[0];
  if (values.help || !sub) {
    (values.help ? out : err).write(CLUSTER_HELP);
    return values.help ? 0 : 1;
  }
  if (sub !== 'status' && sub !== 'release-spool') {
    err.write(`sluice cluster: unknown subcommand "${sub}"\n\n${CLUSTER_HELP}`);
    return 1;
  }
  let model: Model;
  try {
    model = await loadConfigFile(values.config!);
  } catch (e) {
    err.write(e instanceof ConfigError ? `${formatIssues(e.issues)}\n` : `sluice cluster: ${(e as Error).message}\n`);
    return 1;
  }
  let client: pg.Client | null = null;
  try {
    client = await connect(model);
    if (sub === 'status') return await status(client, values.json!, out);
    return await release(client, values.spool, values['spool-id'], out, err);
  } catch (e) {
    err.write(missingTable(e) ? 'sluice cluster: no replica has registered in this database yet\n' : `sluice cluster: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await client?.end().catch(() => undefined);
  }
}

async function status(client: pg.Client, json: boolean, out: NodeJS.WritableStream): Promise<number> {
  const { nodes, dbNow } = await listNodes(client);
  const rows = clusterStatus(nodes, await listLeases(client), dbNow);
  out.write(json ? `${JSON.stringify(rows, null, 2)}\n` : statusTable(rows));
  return 0;
}

function statusTable(rows: readonly NodeStatus[]): string {
  if (!rows.length) return 'no replicas registered\n';
  const lines = rows.map((r) => {
    const conns = Object.entries(r.connections).map(([c, n]) => `${c}=${n.open}`).join(',') || '-';
    const lease = r.spoolLease ? `${r.spoolLease.owner}@${r.spoolLease.epoch} until ${r.spoolLease.expiresAt}${r.spoolLease.state === 'released' ? ' (released)' : ''}` : '-';
    const adopted = r.adopted.length ? ` adopted: ${r.adopted.map((a) => `${a.spoolId}@${a.epoch}`).join(', ')}` : '';
    return [r.nodeId, r.state, r.lastHeartbeat, String(r.queueDepth), conns, lease + adopted];
  });
  const head = ['NODE', 'STATE', 'LAST HEARTBEAT', 'QUEUE', 'CONNECTIONS', 'SPOOL LEASE (owner@epoch)'];
  const all = [head, ...lines];
  const widths = head.map((_, i) => Math.max(...all.map((l) => l[i]!.length)));
  return all.map((l) => l.map((v, i) => (i === l.length - 1 ? v : v.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

async function release(client: pg.Client, dir: string | undefined, id: string | undefined, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  if ((dir === undefined) === (id === undefined)) {
    err.write('sluice cluster release-spool: give the spool as --spool DIR or --spool-id ID (one of them)\n');
    return 1;
  }
  const spoolId = id ?? (await readSpoolId(path.resolve(dir!)));
  if (!spoolId) {
    err.write(`sluice cluster release-spool: ${dir} has no spool-id file (not a spool, or never started in cluster mode)\n`);
    return 1;
  }
  const row = await releaseLease(client, spoolId);
  if (!row) {
    err.write(`sluice cluster release-spool: spool ${spoolId} has no lease, or is held by its home replica already: nothing to hand back\n`);
    return 1;
  }
  // The spool's own record too, so its home replica starts on it even with the database down.
  if (dir !== undefined) await writeLocalLease(path.resolve(dir), { spoolId, owner: row.homeNode, epoch: row.epoch, state: 'released' }).catch(() => undefined);
  out.write(`spool ${spoolId} handed back to ${row.homeNode} (epoch ${row.epoch}): its adopter lets go within a renewal; then start ${row.homeNode}\n`);
  return 0;
}
