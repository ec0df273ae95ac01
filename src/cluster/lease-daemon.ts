// The daemon's side of spool ownership: builds SpoolLeases from the model, with what it needs of
// the running replica (a queue manager per adopted spool sharing the replica's deliverer and
// pools; queue depth and connections for the heartbeat). Kept here so daemon.ts stays wiring.
import path from 'node:path';
import type pg from 'pg';
import type { Model } from '../domain/model.js';
import type { Logger } from '../observe/log.js';
import type { Pools } from '../delivery/pools.js';
import type { SluiceError } from '../domain/errors.js';
import { QueueManager, type DestinationDeliverer } from '../queue/scheduler.js';
import { connectionsByConnector } from './registry-rules.js';
import { SpoolLeases } from './spool-lease.js';

export interface LeaseWiring {
  deliverer: DestinationDeliverer;
  getModel: () => Model;
  pools: Pools;
  /** The replica's own queue manager (for its depth). */
  queue: QueueManager;
  onLost(err: SluiceError): void;
}

export function spoolLeases(pool: pg.Pool, model: Model, log: Logger, w: LeaseWiring): SpoolLeases {
  const c = model.cluster;
  const leases: SpoolLeases = new SpoolLeases({
    pool,
    nodeId: c.nodeId,
    ttlMs: c.leases.spoolTtlMs,
    renewMs: c.leases.spoolRenewMs,
    spoolDir: path.resolve(model.spool.dir),
    adoptSpools: c.adoptSpools,
    log,
    async adopt(spool) {
      const queue = new QueueManager(spool, w.deliverer, w.getModel, log.child({ adoptedSpool: spool.dir }));
      await queue.recover();
      queue.start();
      return { size: () => queue.size, depth: () => queue.depth(), stop: () => queue.stop() };
    },
    beat: () => ({ queueDepth: w.queue.size + leases.adoptedSize(), connections: connectionsByConnector(w.pools.stats()) }),
    onLost: (err) => w.onLost(err),
  });
  return leases;
}
