import type { Logger } from './core/ports/logger.js';
import type { QueueFactory, ThreadLock } from './core/ports/queue.js';
import type { SharedRate } from './core/ports/rate.js';
import type { ClusterFigures } from './metrics.js';
import { BullResearchQueue, createBullQueue } from './store/bullmq-queue.js';
import { RedisThreadLock } from './store/redis-lock.js';
import { ThreadLocks } from './core/thread-locks.js';
import { RedisSharedRate } from './store/redis-rate.js';
import type { RedisStore } from './store/redis.js';

/** What makes several processes one bot, all on the Redis of the store (STORE_URL=redis://…). */
export interface Cluster {
  queue: QueueFactory;
  locks: ThreadLock;
  sharedRate: SharedRate;
  /** The cluster's queue and what was taken over, for /metrics. */
  figures(): Promise<ClusterFigures>;
  /** Counts a run this process took over from a dead one, for the whole cluster. */
  countTakeover(): void;
}

/** The cluster's pieces over the store's Redis: BullMQ research queue, thread locks, shared rate budgets. */
export function createCluster(store: RedisStore, url: string, log: Logger): Cluster {
  const prefix = store.prefix;
  const counter = (name: string) => `${prefix}cluster:${name}`;
  let queue: BullResearchQueue | undefined;
  const bull = createBullQueue({ redis: url, prefix, log });
  // On the store's own fail-fast connection: one Lua call per take, no need for a connection of its own.
  const sharedRate = new RedisSharedRate(store.client, { prefix });
  // This process's stalled jobs found so far, added to the cluster's count as they are seen.
  let stalledSeen = 0;
  return {
    queue: (concurrency, execute, onError) => (queue = bull(concurrency, execute, onError) as BullResearchQueue),
    // A report delivered part by part can hold a thread for a while: others wait up to two minutes.
    locks: new RedisThreadLock(store.client, new ThreadLocks(), { prefix, log, waitMs: 120_000 }),
    sharedRate,
    async figures() {
      const stalled = queue?.counts.stalled ?? 0;
      if (stalled > stalledSeen) await store.client.incrby(counter('stalled'), stalled - stalledSeen);
      stalledSeen = stalled;
      const [{ waiting, running }, totals] = await Promise.all([queue?.cluster() ?? { waiting: 0, running: 0 }, store.client.mget(counter('stalled'), counter('reruns'))]);
      return { waiting, active: running, stalled: Number(totals[0] ?? 0), reruns: Number(totals[1] ?? 0) };
    },
    countTakeover() {
      void store.client.incr(counter('reruns')).catch((err: unknown) => log.warn({ err }, 'could not count a takeover'));
    },
  };
}
