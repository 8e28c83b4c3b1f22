import { createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis.js';
import { failFastOptions } from '../../src/store/redis-connection.js';
import { newThread } from './contract.js';
import { freePort } from '../core/harness.js';
import { deleteKeys, OwnRedis, REDIS_URL, redisReachable, requireRedis, runPrefix } from './redis-env.js';

/** What the Redis store does beyond the contract: its key layout and expiries, its URLs, and Redis outages. */

const reachable = await redisReachable();
requireRedis(reachable, 'RedisStore tests');
const hasServer = OwnRedis.installed();


/** Rejects if `p` has not settled within `ms`: a store call must fail, not hang, when Redis is away. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms))]);
}

const stores: RedisStore[] = [];
function track(store: RedisStore): RedisStore {
  stores.push(store);
  return store;
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

describe.runIf(reachable)('RedisStore on the local Redis', () => {
  const prefix = runPrefix('redis');
  const raw = new Redis(REDIS_URL);
  afterAll(async () => {
    await deleteKeys(prefix);
    await deleteKeys(prefix, `${REDIS_URL.replace(/\/\d*$/, '')}/5`);
    raw.disconnect();
  });

  it('keeps the documented key layout, with expiries on events, day counts, pages and hit windows', async () => {
    const p = `${prefix}layout:`;
    const store = track(new RedisStore(REDIS_URL, { prefix: p }));
    const now = Date.now();
    const t = newThread({ requester: 'U:odd:id', state: 'queued', clarifyMessageId: 'M1' });
    const day = '2026-11-21';
    expect((await store.admit(t, { busy: ['queued'], perUser: 1, dailyLimit: 3, countDaily: true, day })).ok).toBe(true);
    await store.claimEvent('E1', 60_000, now);
    await store.saveFeedback(t.key, 'U2', 'good', now);
    await store.addSpend('2026-11', 1.5);
    await store.savePage('P1', 'page', now, now + 3_600_000);
    await store.savePage('P2', 'kept', now);
    await store.hit('followup:U2', 5, 60_000, now);

    expect(await raw.hgetall(`${p}t:${t.key}`)).toMatchObject({ v: '1', state: 'queued', requester: 'U:odd:id', at: String(t.updatedAt) });
    expect(await raw.zscore(`${p}state:queued`, t.key)).toBe(String(t.updatedAt));
    expect(await raw.smembers(`${p}states`)).toEqual(['queued']);
    expect(await raw.smembers(`${p}user:queued:U:odd:id`)).toEqual([t.key]);
    expect(await raw.get(`${p}msg:M1`)).toBe(t.key);
    expect(await raw.hgetall(`${p}fb:${t.key}`)).toEqual({ U2: 'good' });
    expect(await raw.hgetall(`${p}fbcount`)).toEqual({ good: '1' });
    expect(await raw.get(`${p}spend:2026-11`)).toBe('1.5');
    expect(await raw.get(`${p}daily:${day}:U:odd:id`)).toBe('1');

    const ttl = async (key: string) => raw.pttl(`${p}${key}`);
    expect(await ttl('ev:E1')).toBeGreaterThan(50_000);
    expect(await ttl('ev:E1')).toBeLessThanOrEqual(60_000);
    expect(await ttl(`daily:${day}:U:odd:id`)).toBeGreaterThan(2 * 86_400_000 - 60_000);
    expect(await ttl(`daily:${day}:U:odd:id`)).toBeLessThanOrEqual(2 * 86_400_000);
    expect(await ttl('page:P1')).toBeGreaterThan(3_500_000);
    expect(await ttl('page:P2')).toBe(-1);
    expect(await ttl('hit:followup:U2')).toBeGreaterThan(50_000);
    expect(await ttl('hit:followup:U2')).toBeLessThanOrEqual(60_000);
    // Nothing else: every key the store wrote is in the table.
    const keys = (await raw.keys(`${p}*`)).map((k) => k.slice(p.length).replace(/:.*/, ':')).sort();
    expect([...new Set(keys)]).toEqual(['daily:', 'ev:', 'fb:', 'fbcount', 'hit:', 'msg:', 'page:', 'spend:', 'state:', 'states', 't:', 'user:']);
  });

  it('selects the database named in the URL', async () => {
    const base = REDIS_URL.replace(/\/\d*$/, '');
    const p = `${prefix}db:`;
    const store = track(new RedisStore(`${base}/5`, { prefix: p }));
    const t = newThread();
    await store.save(t);
    const db5 = new Redis(`${base}/5`);
    try {
      expect(await db5.exists(`${p}t:${t.key}`)).toBe(1);
      expect(await raw.exists(`${p}t:${t.key}`)).toBe(0);
    } finally {
      db5.disconnect();
    }
  });

  it('runs on a client the caller made, and leaves it open on close', async () => {
    const client = new Redis(REDIS_URL, failFastOptions({}));
    const store = new RedisStore(client, { prefix: `${prefix}injected:` });
    expect(await store.save(newThread())).toBeDefined();
    await store.close();
    expect(await client.ping()).toBe('PONG');
    await client.quit();
  });

  it('loads its scripts again after SCRIPT FLUSH', async () => {
    const store = track(new RedisStore(REDIS_URL, { prefix: `${prefix}flush:` }));
    const v1 = await store.save(newThread());
    await raw.script('FLUSH');
    expect((await store.save(v1!))?.version).toBe(2);
    expect(await store.hit('b', 1, 1000, Date.now())).toBe(true);
  });
});

describe('RedisStore URLs', () => {
  it('takes rediss:// as TLS and refuses what is not a Redis URL', async () => {
    const store = track(new RedisStore(`rediss://127.0.0.1:${await freePort()}/0`, { connectTimeoutMs: 200 }));
    expect(store.client.options.tls).toBeDefined();
    expect(() => new RedisStore('sqlite:data/bot.db')).toThrow(/not a redis:\/\/ or rediss:\/\/ URL/);
  });
});

describe('RedisStore when Redis is away', () => {
  it('nothing listening: ping is false and every write rejects promptly', async () => {
    const store = track(new RedisStore(`redis://127.0.0.1:${await freePort()}`, { connectTimeoutMs: 300, pingTimeoutMs: 300 }));
    expect(await within(store.ping(), 1000)).toBe(false);
    await expect(within(store.save(newThread()), 1500)).rejects.toThrow(/Redis is not reachable/);
    await expect(within(store.claimEvent('E', 1000, Date.now()), 1500)).rejects.toThrow(/Redis is not reachable/);
  });

  it('a server that accepts and never answers: ping is false and writes reject, within the timeouts', async () => {
    const sockets: Socket[] = [];
    const server: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const store = track(new RedisStore(`redis://127.0.0.1:${port}`, { connectTimeoutMs: 300, commandTimeoutMs: 300, pingTimeoutMs: 300 }));
      expect(await within(store.ping(), 1000)).toBe(false);
      await expect(within(store.save(newThread()), 1500)).rejects.toThrow();
      await store.close();
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  describe.runIf(hasServer)('a Redis of its own that dies, hangs and comes back', () => {
    let redis: OwnRedis | undefined;
    afterAll(() => redis?.signal('SIGKILL'));

    it('rejects while Redis is down or stalled, never hangs, and works again once it is back', async () => {
      redis = new OwnRedis(await freePort());
      await redis.start();
      const store = track(new RedisStore(redis.url, { connectTimeoutMs: 300, commandTimeoutMs: 500, pingTimeoutMs: 300 }));
      const v1 = await store.save(newThread({ state: 'queued' }));
      expect(v1?.version).toBe(1);

      // Stalled (SIGSTOP): the connection stays open, no answer comes; the command times out.
      await redis.signal('SIGSTOP');
      await expect(within(store.save(v1!), 2000)).rejects.toThrow();
      expect(await within(store.ping(), 1000)).toBe(false);
      await redis.signal('SIGCONT');
      await expect.poll(() => store.ping(), { timeout: 10_000 }).toBe(true);

      // Gone (SIGKILL): the connection drops; writes reject at once or after the connect timeout.
      await redis.signal('SIGKILL');
      await expect(within(store.save(newThread()), 2000)).rejects.toThrow();
      await expect(within(store.admit(newThread(), { busy: ['queued'], perUser: 1, dailyLimit: 0, countDaily: false, day: '2026-11-21' }), 2000)).rejects.toThrow();
      expect(await within(store.ping(), 1000)).toBe(false);

      // Back (empty: nothing persisted): the store reconnects by itself.
      await redis.start();
      await expect.poll(() => store.ping(), { timeout: 10_000 }).toBe(true);
      expect((await store.save(newThread()))?.version).toBe(1);
      await store.close();
      expect(store.client.status).toBe('end');
    });
  });
});
