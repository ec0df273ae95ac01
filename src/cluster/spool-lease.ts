// Spool ownership in cluster mode (issue 13), the imperative shell around lease-rules.ts. Each
// spool has an id (lease-files.ts) and a lease row (lease-store.ts) renewed every spoolRenew;
// a replica registers its node id (registry.ts) and beats in the same round.
// - Start: before the spool lock, the node id and the home lease are checked (E_NODE_ID_IN_USE,
//   E_SPOOL_ADOPTED naming the adopter — checked first because the adopter holds the lock too);
//   after the lock and before recovery the lease is taken with a compare-and-set on its epoch.
// - PostgreSQL down: the replica starts on the last lease recorded in its spool (if its own) and
//   keeps delivering; nobody can adopt meanwhile (expiry needs the database), so this is safe.
// - Takeover: each round, every cluster.adoptSpools path whose lease lapsed (by the database's
//   clock and uptime, and this replica's own unbroken reach) is adopted: its local lock, then the
//   lease row, then recovery and delivery from a queue manager of its own.
// - Fencing: a renewal that matches no row means a newer epoch: delivery from that spool stops.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { SluiceError } from '../domain/errors.js';
import type { Logger } from '../observe/log.js';
import { FileSpool } from '../queue/file-spool.js';
import type { DepthRow } from '../queue/queue-depth.js';
import { EngineState } from './engine-state.js';
import { ensureSpoolId, readLocalLease, readSpoolId, writeLocalLease } from './lease-files.js';
import { homeStart, lostTo, mayAdopt, offlineStart, type LeaseRow } from './lease-rules.js';
import { dbClock, dbView, ensureLeaseSchema, expireLease, insertLease, readLease, renewLease, takeLease, type Holder } from './lease-store.js';
import { noteAdoption, noteLeases, noteRegistry } from './lease-metrics.js';
import { ensureRegistrySchema, listNodes, Registry, type Beat } from './registry.js';

/** Delivery from an adopted spool (a queue manager of its own, sharing the replica's pools). */
export interface AdoptedQueue {
  size(): number;
  depth(): DepthRow[];
  stop(): Promise<void>;
}

export interface SpoolLeaseOptions {
  pool: pg.Pool;
  nodeId: string;
  ttlMs: number;
  renewMs: number;
  spoolDir: string;
  adoptSpools: readonly string[];
  log: Logger;
  /** Recovers an adopted spool's queue and starts delivering it. */
  adopt(spool: FileSpool): Promise<AdoptedQueue>;
  /** This replica's own figures for its heartbeat. */
  beat(): Omit<Beat, 'leases'>;
  /** The home spool's lease went to another replica while running: stop delivering from it. */
  onLost(err: SluiceError): void;
}

interface Adopted {
  spoolId: string;
  path: string;
  epoch: number;
  spool: FileSpool;
  /** null while its recovery runs (the lease is renewed meanwhile). */
  queue: AdoptedQueue | null;
  /** Recovery and start; letting go waits for it. */
  starting: Promise<void>;
}

const isSluice = (err: unknown): err is SluiceError => err instanceof SluiceError;

export class SpoolLeases {
  readonly instanceId = randomUUID();
  private readonly engine: EngineState;
  private readonly registry: Registry;
  private readonly holder: Holder;
  private spoolId = '';
  /** The home lease's epoch; null while it is not confirmed by the database (started offline). */
  private homeEpoch: number | null = null;
  private homeLost = false;
  private registered = false;
  private schemaReady = false;
  /** Database clock time since which every call succeeded; null while unreachable. */
  private reachableSince: number | null = null;
  private readonly adopted = new Map<string, Adopted>();
  /** Last reason logged per adoptSpools path, so a waiting adoption logs once, not every round. */
  private readonly adoptNotes = new Map<string, string>();
  /** Adopted spools being let go of (their deliveries in flight finishing). */
  private readonly lettingGo = new Set<Promise<void>>();
  /** Logged once: our node id's registry row was taken by another replica. */
  private idTaken = false;
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly o: SpoolLeaseOptions) {
    this.engine = new EngineState('postgres', o.log, 'the spool is used on its last lease; no takeover, no registry updates');
    this.registry = new Registry(o.pool, o.nodeId, this.instanceId, o.ttlMs);
    this.holder = { node: o.nodeId, instance: this.instanceId, ttlMs: o.ttlMs };
  }

  /** Before the spool lock: E_NODE_ID_IN_USE, E_SPOOL_ADOPTED; a database outage only degrades. */
  async precheck(): Promise<void> {
    this.spoolId = await ensureSpoolId(this.o.spoolDir);
    try {
      await this.connect();
      const found = await readLease(this.o.pool, this.spoolId, this.o.ttlMs);
      const clock = await dbClock(this.o.pool);
      const verdict = homeStart(found?.row ?? null, this.o.nodeId, { ...clock, ttlMs: this.o.ttlMs }, found?.ownerAlive ?? false);
      if (typeof verdict === 'object') throw this.adoptedError(verdict.holder, verdict.reason);
    } catch (err) {
      if (isSluice(err)) {
        await this.unregister();
        throw err;
      }
      this.down(err);
      const verdict = offlineStart(await readLocalLease(this.o.spoolDir), this.o.nodeId);
      if (typeof verdict === 'object') throw this.adoptedError(verdict.holder, verdict.reason);
    }
  }

  /** After the spool lock, before recovery: takes the home lease (or starts on the last one, offline). */
  async claimHome(): Promise<void> {
    if (!this.engine.up) return; // offline: the round claims it when the database is back
    try {
      await this.takeHome();
    } catch (err) {
      if (isSluice(err)) {
        await this.unregister();
        throw err;
      }
      this.down(err);
    }
  }

  /** Begins the lease rounds (renewal, heartbeat, takeover): after the first delivery may start. */
  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.round = this.runRound().finally(() => {
        this.round = null;
        if (!this.stopped) this.timer = setTimeout(tick, this.o.renewMs);
      });
    };
    this.timer = setTimeout(tick, this.o.renewMs);
  }

  /** Adopted spools: their queue managers stopped and locks released; their leases left to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.round;
    await Promise.all([...this.adopted.values()].map((a) => this.letGo(a, 'stopping', true)));
    await Promise.all([...this.lettingGo]);
    await this.unregister();
  }

  /** Messages queued on the adopted spools (the replica's own queue counts separately). */
  adoptedSize(): number {
    let n = 0;
    for (const a of this.adopted.values()) n += a.queue?.size() ?? 0;
    return n;
  }

  /** The adopted spools' rows for sluice_queue_depth, beside the replica's own. */
  adoptedDepth(): DepthRow[] {
    return [...this.adopted.values()].flatMap((a) => a.queue?.depth() ?? []);
  }

  private async connect(): Promise<void> {
    if (!this.schemaReady) {
      await ensureRegistrySchema(this.o.pool);
      await ensureLeaseSchema(this.o.pool);
      this.schemaReady = true;
    }
    const clock = await dbClock(this.o.pool);
    if (!this.registered) {
      await this.registry.register(this.spoolId);
      this.registered = true;
    }
    if (!this.engine.up) {
      this.reachableSince = clock.now;
      this.engine.markUp();
    }
  }

  private down(err: unknown): void {
    this.reachableSince = null;
    this.engine.markDown(err);
  }

  private async takeHome(): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const found = await readLease(this.o.pool, this.spoolId, this.o.ttlMs);
      const clock = await dbClock(this.o.pool);
      const verdict = homeStart(found?.row ?? null, this.o.nodeId, { ...clock, ttlMs: this.o.ttlMs }, found?.ownerAlive ?? false);
      if (typeof verdict === 'object') throw this.adoptedError(verdict.holder, verdict.reason);
      const row =
        verdict === 'insert'
          ? await insertLease(this.o.pool, this.spoolId, this.o.spoolDir, this.holder)
          : await takeLease(this.o.pool, this.spoolId, found!.row.epoch, this.holder, { adopt: false, spoolPath: this.o.spoolDir });
      if (!row) continue; // another replica changed it between the read and the write: decide again
      await this.held(row, this.o.spoolDir);
      this.homeEpoch = row.epoch;
      this.o.log.info({ stage: 'cluster', spoolId: this.spoolId, epoch: row.epoch }, 'spool lease taken');
      return;
    }
    throw this.adoptedError('another replica', 'the lease changed hands three times while starting');
  }

  private adoptedError(holder: string, reason: string): SluiceError {
    return new SluiceError(
      'E_SPOOL_ADOPTED',
      `spool ${this.o.spoolDir} was ${reason.startsWith('adopted') ? reason : `taken: ${reason}`}; it delivers this spool's mail now. To hand it back, run \`sluice cluster release-spool --spool ${this.o.spoolDir}\` with ${holder}'s config`,
      { details: { spool: this.o.spoolDir, spoolId: this.spoolId, adopter: holder } },
    );
  }

  private async held(row: LeaseRow, dir: string): Promise<void> {
    await writeLocalLease(dir, { spoolId: row.spoolId, owner: row.ownerNode, epoch: row.epoch, state: row.state });
  }

  private async unregister(): Promise<void> {
    if (!this.registered) return;
    this.registered = false;
    await this.registry.markStopped().catch(() => undefined);
  }

  private leases(): Beat['leases'] {
    const out: Beat['leases'] = this.homeEpoch !== null && !this.homeLost ? [{ spoolId: this.spoolId, epoch: this.homeEpoch, role: 'home' }] : [];
    for (const a of this.adopted.values()) out.push({ spoolId: a.spoolId, epoch: a.epoch, role: 'adopted' });
    return out;
  }

  private async runRound(): Promise<void> {
    try {
      await this.connect();
      await this.renewHome();
      for (const a of [...this.adopted.values()]) {
        if (this.stopped) return;
        const ok = await renewLease(this.o.pool, a.spoolId, a.epoch, this.holder);
        if (ok === null) {
          const now = await readLease(this.o.pool, a.spoolId, this.o.ttlMs);
          // Not awaited: deliveries in flight may take minutes, and the other leases must be renewed meanwhile.
          this.track(this.letGo(a, `its lease went to ${lostTo(now?.row ?? null)}`));
        }
      }
      const leases = this.leases();
      if (!(await this.registry.heartbeat({ ...this.o.beat(), leases }))) {
        this.registered = false; // taken for dead and our row reused: register again next round
      }
      noteLeases(leases);
      const { nodes, dbNow } = await listNodes(this.o.pool);
      noteRegistry(nodes, dbNow);
      for (const dir of this.o.adoptSpools) {
        if (this.stopped) return;
        if (![...this.adopted.values()].some((a) => a.path === dir)) await this.tryAdopt(dir);
      }
    } catch (err) {
      if (!isSluice(err) || err.code !== 'E_NODE_ID_IN_USE') this.down(err);
      else if (!this.idTaken) {
        this.idTaken = true;
        this.o.log.error({ stage: 'cluster', code: err.code, err: err.message }, 'node id taken by another replica; this replica keeps serving but is not in the registry');
      }
    }
  }

  private async renewHome(): Promise<void> {
    if (this.homeLost) return;
    if (this.homeEpoch === null) {
      try {
        await this.takeHome(); // started offline: the lease it assumed, confirmed now
      } catch (err) {
        if (!isSluice(err)) throw err;
        this.lose(err);
      }
      return;
    }
    if ((await renewLease(this.o.pool, this.spoolId, this.homeEpoch, this.holder)) !== null) return;
    const now = await readLease(this.o.pool, this.spoolId, this.o.ttlMs);
    this.lose(this.adoptedError(lostTo(now?.row ?? null), `adopted by ${lostTo(now?.row ?? null)} (epoch ${now?.row.epoch ?? '?'}) while this replica could not renew its lease`));
  }

  private lose(err: SluiceError): void {
    this.homeLost = true;
    this.o.log.error({ stage: 'cluster', code: err.code, err: err.message, ...err.details }, 'spool lease lost: delivery from this spool stops');
    this.o.onLost(err);
  }

  private note(dir: string, reason: string, level: 'debug' | 'info' | 'warn' = 'info'): void {
    if (this.adoptNotes.get(dir) === reason) return;
    this.adoptNotes.set(dir, reason);
    this.o.log[level]({ stage: 'cluster', spool: dir, reason }, 'not adopting spool');
  }

  private async tryAdopt(dir: string): Promise<void> {
    const spoolId = await readSpoolId(dir);
    if (!spoolId) return this.note(dir, 'no spool id there (not reachable, or its replica never started in cluster mode)');
    if (spoolId === this.spoolId) return this.note(dir, 'it is this replica’s own spool', 'warn');
    const found = await readLease(this.o.pool, spoolId, this.o.ttlMs);
    const clock = await dbClock(this.o.pool);
    const verdict = mayAdopt(found?.row ?? null, this.o.nodeId, dbView(clock, this.reachableSince ?? clock.now, this.o.ttlMs), found?.ownerAlive ?? false);
    if (!verdict.adopt) return this.note(dir, verdict.reason, 'debug');
    const from = found!.row;
    const spool = new FileSpool(dir, this.o.log, { owner: `sluice daemon ${this.o.nodeId} (adopted spool)` });
    try {
      await spool.open(); // the dead owner's lock is stale; a live one here keeps its spool
    } catch (err) {
      return this.note(dir, (err as Error).message, 'warn');
    }
    const row = await takeLease(this.o.pool, spoolId, from.epoch, this.holder, { adopt: true }).catch(async (err: unknown) => {
      await spool.close();
      throw err;
    });
    if (!row) {
      await spool.close();
      return this.note(dir, 'another replica adopted it first');
    }
    this.adoptNotes.delete(dir);
    noteAdoption();
    const entry: Adopted = { spoolId, path: dir, epoch: row.epoch, spool, queue: null, starting: Promise.resolve() };
    this.adopted.set(spoolId, entry);
    // At once, not at the next round: the adopted queue may be delivered before that round comes,
    // and the round's registry view may predate the owner's heartbeat going stale.
    noteLeases(this.leases());
    await listNodes(this.o.pool).then(({ nodes, dbNow }) => noteRegistry(nodes, dbNow)).catch(() => undefined);
    // Recovery of a large spool takes a while: it runs beside the rounds, which keep renewing.
    entry.starting = (async () => {
      await this.held(row, dir);
      entry.queue = await this.o.adopt(spool);
      this.o.log.warn({ stage: 'cluster', spool: dir, spoolId, from: from.ownerNode, epoch: row.epoch, queued: entry.queue.size() }, `adopted the spool of ${from.ownerNode}: delivering its queue`);
    })().catch(async (err: unknown) => {
      this.adopted.delete(spoolId);
      await spool.close();
      this.o.log.error({ stage: 'cluster', spool: dir, spoolId, err: (err as Error).message }, 'could not deliver an adopted spool; its lease is left to expire');
    });
  }

  private track(p: Promise<void>): void {
    this.lettingGo.add(p);
    void p.finally(() => this.lettingGo.delete(p));
  }

  private async letGo(a: Adopted, why: string, expire = false): Promise<void> {
    this.adopted.delete(a.spoolId);
    noteLeases(this.leases());
    await a.starting;
    await a.queue?.stop();
    await a.spool.close();
    // A clean stop lets the next replica (or the spool's home) take it at once, not a TTL later.
    if (expire) await expireLease(this.o.pool, a.spoolId, a.epoch, this.holder).catch(() => undefined);
    this.o.log.warn({ stage: 'cluster', spool: a.path, spoolId: a.spoolId, reason: why }, 'let go of an adopted spool');
  }
}
