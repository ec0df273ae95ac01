// The Lua scripts behind leases in Redis (KumoMTA's design): a sorted set per key whose members
// are lease ids scored by their expiry. Time comes from Redis `TIME`, never a replica's clock, so
// replicas with skewed clocks agree on what has expired. Each script runs atomically in Redis.
import type { Redis } from 'ioredis';

/** now in ms from Redis' clock. */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * KEYS[1] lease set, KEYS[2] waiting replicas; ARGV ttlMs, max, leaseId, nodeId, waitMs. Drops
 * expired leases, counts the rest, adds one if under the cap, as slot-caps.ts mayTakeShared
 * decides: while other replicas were refused within waitMs, a replica already at its share
 * leaves the free slot to them (a replica's own waiters are woken first and would always win).
 * A refused replica notes itself as waiting (unless waitMs is 0). Returns {1 taken | 0 refused, leases now}.
 */
const ACQUIRE = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
local max = tonumber(ARGV[2])
local node = ARGV[4]
local take = false
if n < max then
  local others = 0
  for _, w in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if w ~= node then others = others + 1 end
  end
  if others == 0 then
    take = true
  else
    local mine = 0
    local p = node .. ':'
    for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
      if string.sub(m, 1, #p) == p then mine = mine + 1 end
    end
    take = mine < math.max(1, math.floor(max / (others + 1)))
  end
end
if take then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], node)
  return {1, n + 1}
end
if tonumber(ARGV[5]) > 0 then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), node)
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
return {0, n}`;

/**
 * KEYS[1] lease set; ARGV ttlMs, leaseId… Renews (or registers again, after Redis lost them) every
 * lease given, whatever the count: they are open connections. Returns the live leases of the key.
 */
const RENEW = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local exp = now + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], exp, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return redis.call('ZCARD', KEYS[1])`;

/** KEYS[1] replica set; ARGV nodeId, ttlMs. This replica's heartbeat; returns the live replicas. */
const HEARTBEAT = `${NOW}
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('ZCARD', KEYS[1])`;

/**
 * KEYS[1] mark set (host → expiry), KEYS[2] reasons hash. Drops expired marks and returns
 * {now, host, expiresAt, reason, …} for the rest.
 */
const READ_MARKS = `${NOW}
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #gone > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  redis.call('HDEL', KEYS[2], unpack(gone))
end
local out = {now}
local live = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #live, 2 do
  table.insert(out, live[i])
  table.insert(out, live[i + 1])
  table.insert(out, redis.call('HGET', KEYS[2], live[i]) or '')
end
return out`;

/** KEYS[1] mark set, KEYS[2] reasons hash; ARGV host, downMs, reason. Keeps the later expiry. */
const MARK_DOWN = `${NOW}
local exp = now + tonumber(ARGV[2])
local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not cur) or tonumber(cur) < exp then
  redis.call('ZADD', KEYS[1], exp, ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
end
return 1`;

export interface LeaseCommands {
  sluiceLeaseAcquire(key: string, waiting: string, ttlMs: number, max: number, id: string, nodeId: string, waitMs: number): Promise<[number, number]>;
  sluiceLeaseRenew(key: string, ttlMs: number, ...ids: string[]): Promise<number>;
  sluiceHeartbeat(key: string, nodeId: string, ttlMs: number): Promise<number>;
  sluiceReadMarks(set: string, reasons: string, ...rest: never[]): Promise<(string | number)[]>;
  sluiceMarkDown(set: string, reasons: string, host: string, downMs: number, reason: string): Promise<number>;
}

export type ScriptedRedis = Redis & LeaseCommands;

/** Defines the scripts on the client once (EVALSHA, loaded again by ioredis after a Redis restart). */
export function withLeaseScripts(client: Redis): ScriptedRedis {
  const c = client as ScriptedRedis;
  if (typeof c.sluiceLeaseAcquire === 'function') return c;
  client.defineCommand('sluiceLeaseAcquire', { numberOfKeys: 2, lua: ACQUIRE });
  client.defineCommand('sluiceLeaseRenew', { numberOfKeys: 1, lua: RENEW });
  client.defineCommand('sluiceHeartbeat', { numberOfKeys: 1, lua: HEARTBEAT });
  client.defineCommand('sluiceReadMarks', { numberOfKeys: 2, lua: READ_MARKS });
  client.defineCommand('sluiceMarkDown', { numberOfKeys: 2, lua: MARK_DOWN });
  return c;
}
