import { ThreadLocks } from '../../src/core/thread-locks.js';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { failFastOptions } from '../../src/store/redis-connection.js';
import { RedisThreadLock, ThreadLockTimeoutError } from '../../src/store/redis-lock.js';
import { deleteKeys, REDIS_URL, redisReachable, requireRedis, runPrefix } from '../store/redis-env.js';
import { deferred } from './helpers.js';

/** The cluster's per-thread lock on the real Redis; each lock instance has its own connection (a process). */

const reachable = await redisReachable();
requireRedis(reachable, 'RedisThreadLock tests');

describe.runIf(reachable)('RedisThreadLock', () => {
  const prefix = runPrefix('lock');
  const clients: Redis[] = [];
  /** A fail-fast client, as the store's; `plain` waits for its connection (for the test's own reads). */
  const client = (plain = false) => {
    const c = plain ? new Redis(REDIS_URL) : new Redis(REDIS_URL, failFastOptions({}));
    c.on('error', () => {});
    clients.push(c);
    return c;
  };
  const lock = (opts: { ttlMs?: number; waitMs?: number } = {}) => new RedisThreadLock(client(), new ThreadLocks(), { prefix, ttlMs: 2000, ...opts });
  afterEach(() => {
    for (const c of clients.splice(0)) c.disconnect();
  });
  afterAll(async () => {
    await deleteKeys(prefix);
  });
  const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('never runs work for one thread in two processes at once, and runs all of it', async () => {
    const [a, b] = [lock(), lock()];
    let inside = 0;
    let overlaps = 0;
    let done = 0;
    const work = async () => {
      if (++inside > 1) overlaps++;
      await tick(2 + Math.random() * 8);
      inside--;
      done++;
    };
    await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).run('slack:T:C:1.1', work)));
    expect(overlaps).toBe(0);
    expect(done).toBe(12);
  });

  it('runs one process’s work for a thread in arrival order', async () => {
    const a = lock();
    const order: number[] = [];
    await Promise.all([1, 2, 3, 4, 5].map((i) => a.run('k', async () => void (await tick(6 - i), order.push(i)))));
    expect(order).toEqual([1, 2, 3, 4, 5]);
    await a.settled();
  });

  it('runs different threads side by side', async () => {
    const [a, b] = [lock(), lock()];
    const gate = deferred();
    const entered = deferred();
    let firstDone = false;
    const first = a.run('k1', async () => {
      entered.resolve();
      await gate.promise;
      firstDone = true;
    });
    await entered.promise;
    await b.run('k2', async () => undefined);
    await a.run('k3', async () => undefined);
    expect(firstDone).toBe(false);
    gate.resolve();
    await first;
  });

  it('refuses after the bounded wait with a clear error while another process holds the thread', async () => {
    const [a, b] = [lock(), lock({ waitMs: 300 })];
    const gate = deferred();
    const entered = deferred();
    const held = a.run('k', async () => (entered.resolve(), gate.promise));
    await entered.promise;
    const started = Date.now();
    const err = await b.run('k', async () => 'never').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ThreadLockTimeoutError);
    expect((err as Error).message).toMatch(/could not lock thread k within 300 ms \(held by another process\)/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    gate.resolve();
    await held;
    expect(await b.run('k', async () => 'now')).toBe('now');
  });

  it('keeps the lock past its ttl while the work runs (renewed)', async () => {
    const [a, b] = [lock({ ttlMs: 300 }), lock({ waitMs: 100 })];
    const gate = deferred();
    const entered = deferred();
    const held = a.run('k', async () => (entered.resolve(), gate.promise));
    await entered.promise;
    await tick(900); // three ttls: only renewal keeps it
    await expect(b.run('k', async () => undefined)).rejects.toBeInstanceOf(ThreadLockTimeoutError);
    gate.resolve();
    await held;
  });

  it('a holder that dies (its connection gone) loses the lock after the ttl', async () => {
    const deadClient = client();
    const dead = new RedisThreadLock(deadClient, new ThreadLocks(), { prefix, ttlMs: 1000 });
    const entered = deferred();
    void dead.run('k', async () => (entered.resolve(), new Promise(() => {}))).catch(() => undefined);
    await entered.promise;
    deadClient.disconnect();
    const diedAt = Date.now();

    const survivor = lock({ waitMs: 5000 });
    await survivor.run('k', async () => undefined);
    const waited = Date.now() - diedAt;
    console.info(`lock of a dead holder taken ${waited} ms after its connection dropped (ttl 1000 ms)`);
    expect(waited).toBeGreaterThan(500);
    expect(waited).toBeLessThan(2500); // the ttl left (at most 1000 ms) plus a retry backoff, with room for a loaded machine
  });

  it('a holder whose lock expired does not free the next holder’s lock (compare-and-delete)', async () => {
    const raw = client(true);
    const [a, b] = [lock(), lock({ waitMs: 3000 })];
    const lockKey = `${prefix}lock:k`;
    const aGate = deferred();
    const aEntered = deferred();
    const aDone = a.run('k', async () => (aEntered.resolve(), aGate.promise));
    await aEntered.promise;
    await raw.del(lockKey); // a's lock expires (as in a long pause)

    const bEntered = deferred();
    const bGate = deferred();
    const bDone = b.run('k', async () => (bEntered.resolve(), bGate.promise));
    await bEntered.promise;
    const bToken = await raw.get(lockKey);
    aGate.resolve();
    await aDone; // a releases: its token no longer matches
    expect(await raw.get(lockKey)).toBe(bToken);
    bGate.resolve();
    await bDone;
    expect(await raw.exists(lockKey)).toBe(0);
  });
});
