import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/core/ports/logger.js';
import type { SharedRate } from '../../src/core/ports/rate.js';
import { SharedBudget } from '../../src/platforms/shared-budget.js';
import { RedisSharedRate } from '../../src/store/redis-rate.js';
import { deleteKeys, REDIS_URL, redisReachable, requireRedis, runPrefix } from '../store/redis-env.js';

/** The shared token bucket (one Lua script per take) against the real Redis, and the platforms' fallback without it. */

const reachable = await redisReachable();
requireRedis(reachable, 'RedisSharedRate tests');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rates: RedisSharedRate[] = [];
const open = (prefix: string) => {
  const r = new RedisSharedRate(REDIS_URL, { prefix });
  rates.push(r);
  return r;
};
afterEach(async () => {
  for (const r of rates.splice(0)) await r.close();
});

describe.runIf(reachable)('RedisSharedRate on the local Redis', () => {
  const prefix = runPrefix('rate');
  const raw = new Redis(REDIS_URL);
  afterAll(async () => {
    await deleteKeys(prefix);
    raw.disconnect();
  });

  it('gives the burst at once, then one token per 60 000 / perMinute ms, answering how long until the next', async () => {
    const rate = open(prefix);
    // 600 a minute: one every 100 ms, at most 5 in hand.
    const takes = [];
    for (let i = 0; i < 5; i++) takes.push(await rate.take('burst', 600, 5));
    expect(takes).toEqual([0, 0, 0, 0, 0]);
    const wait = await rate.take('burst', 600, 5);
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(100);
    // Nothing was taken by the refused take: after its wait, one token is there.
    await sleep(wait + 5);
    expect(await rate.take('burst', 600, 5)).toBe(0);
    expect(await rate.take('burst', 600, 5)).toBeGreaterThan(0);
    // 350 ms refill three tokens (not the whole burst).
    await sleep(350);
    let got = 0;
    while ((await rate.take('burst', 600, 5)) === 0) got++;
    expect(got).toBeGreaterThanOrEqual(3);
    expect(got).toBeLessThanOrEqual(4);
    // Another bucket is another budget.
    expect(await rate.take('other', 600, 5)).toBe(0);
  });

  it('three connections taking at once never get more than burst + rate × time', async () => {
    const takers = [open(prefix), open(prefix), open(prefix)];
    const [perMinute, burst, runMs] = [1200, 10, 1500];
    let taken = 0;
    let asked = 0;
    const start = Date.now();
    const loop = async (rate: RedisSharedRate) => {
      while (Date.now() - start < runMs) {
        asked++;
        if ((await rate.take('crowd', perMinute, burst)) === 0) taken++;
        // Gentle on the Redis other test files share: still many takers racing for each token.
        else await sleep(1);
      }
    };
    // Four loops on each connection: twelve takers racing for the same bucket.
    await Promise.all(takers.flatMap((r) => Array.from({ length: 4 }, () => loop(r))));
    const elapsed = Date.now() - start;
    const most = burst + (perMinute / 60_000) * elapsed;
    console.log(`shared bucket: ${taken} tokens of ${asked} takes in ${elapsed} ms (at most ${most.toFixed(1)})`);
    expect(asked).toBeGreaterThan(taken * 10);
    expect(taken).toBeLessThanOrEqual(Math.floor(most));
    // Every token that could be taken was: the bucket is not stricter than its rate.
    expect(taken).toBeGreaterThanOrEqual(Math.floor(most) - 3);
  });

  it('a pause holds the bucket for every process, then it refills from empty', async () => {
    const [a, b] = [open(prefix), open(prefix)];
    expect(await a.take('paused', 600, 5)).toBe(0);
    await a.pause('paused', 400);
    const wait = await b.take('paused', 600, 5);
    expect(wait).toBeGreaterThan(300);
    expect(wait).toBeLessThanOrEqual(400);
    // A shorter pause does not shorten it.
    await b.pause('paused', 50);
    expect(await a.take('paused', 600, 5)).toBeGreaterThan(250);
    await sleep(wait + 20);
    // Empty after the pause: the first token comes one interval (100 ms) after it.
    const next = await b.take('paused', 600, 5);
    expect(next).toBeGreaterThan(0);
    expect(next).toBeLessThanOrEqual(100);
    await sleep(next + 5);
    expect(await a.take('paused', 600, 5)).toBe(0);
  });

  it('keeps one hash per bucket under the prefix, expiring once it would be full again', async () => {
    const p = `${prefix}layout:`;
    const rate = open(p);
    expect(rate.key('slack:T1:chat.update')).toBe(`${p}rate:slack:T1:chat.update`);
    // 6000 a minute, burst 3: one token taken is back within 10 ms; the key lives on one second beyond that.
    expect(await rate.take('slack:T1:chat.update', 6000, 3)).toBe(0);
    const ttl = await raw.pttl(rate.key('slack:T1:chat.update'));
    expect(ttl).toBeGreaterThan(900);
    expect(ttl).toBeLessThanOrEqual(1010);
    expect(Object.keys(await raw.hgetall(rate.key('slack:T1:chat.update'))).sort()).toEqual(['at', 'h', 't']);
    // A slow bucket lives as long as its refill: 60 a minute, two of burst 2 taken → 2 s, plus the second.
    await rate.take('slow', 60, 2);
    await rate.take('slow', 60, 2);
    expect(await raw.pttl(rate.key('slow'))).toBeGreaterThan(2900);
    expect(await raw.pttl(rate.key('slow'))).toBeLessThanOrEqual(3000);
    // A refused take writes nothing.
    expect(await rate.take('slow', 60, 2)).toBeGreaterThan(0);
    await sleep(1200);
    expect(await raw.exists(rate.key('slack:T1:chat.update'))).toBe(0);
    expect(await raw.keys(`${p}*`)).toEqual([rate.key('slow')]);
  });

  it('refuses nonsense limits', async () => {
    await expect(open(prefix).take('x', 0, 5)).rejects.toThrow(/perMinute/);
    await expect(open(prefix).take('x', 10, 0)).rejects.toThrow(/burst/);
  });
});

function recordingLogger(lines: string[]): Logger {
  const log: Logger = {
    debug: () => {},
    info: (_o, msg) => void lines.push(`info ${msg}`),
    warn: (_o, msg) => void lines.push(`warn ${msg}`),
    error: (_o, msg) => void lines.push(`error ${msg}`),
    child: () => log,
  };
  return log;
}

describe('the platforms’ side of the shared budget (SharedBudget)', () => {
  it('without a shared rate it asks nothing: every call goes at once', async () => {
    const budget = new SharedBudget(undefined, recordingLogger([]));
    expect(budget.shared).toBe(false);
    expect(await budget.wait('b', 10, 1)).toBe(0);
    await budget.acquire('b', 10, 1);
  });

  // Port 1: nothing listens there (a free port picked at random could be taken by another test's server meanwhile).
  it('with Redis unreachable, calls go by the local budget at once, logged once, and the shared one is asked again later', async () => {
    const lines: string[] = [];
    const rate = new RedisSharedRate('redis://127.0.0.1:1', { prefix: 'never:', connectTimeoutMs: 200, readyTimeoutMs: 200 });
    rates.push(rate);
    const budget = new SharedBudget(rate, recordingLogger(lines), { retryMs: 300 });
    const started = Date.now();
    for (let i = 0; i < 20; i++) await budget.acquire('slack:T1:chat.update', 40, 5);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(lines).toEqual(['warn shared rate budget unreachable; each process goes by its own budget until it is back']);
    await sleep(350);
    expect(await budget.wait('slack:T1:chat.update', 40, 5)).toBe(0);
    expect(lines).toHaveLength(1);
  });

  it('a shared rate that hangs counts as unreachable after the timeout, and its return is logged', async () => {
    const lines: string[] = [];
    let hang = true;
    const rate: SharedRate = { take: () => (hang ? new Promise(() => {}) : Promise.resolve(0)) };
    const budget = new SharedBudget(rate, recordingLogger(lines), { timeoutMs: 100, retryMs: 100 });
    const started = Date.now();
    expect(await budget.wait('b', 10, 1)).toBe(0);
    expect(Date.now() - started).toBeLessThan(400);
    // Meanwhile nothing is asked: no call waits on it again.
    expect(await budget.wait('b', 10, 1)).toBe(0);
    expect(Date.now() - started).toBeLessThan(400);
    hang = false;
    await sleep(120);
    expect(await budget.wait('b', 10, 1)).toBe(0);
    expect(lines).toEqual(['warn shared rate budget unreachable; each process goes by its own budget until it is back', 'info shared rate budget reachable again; calls take from it again']);
  });

  it('waits out what the shared bucket says, one asker per bucket in a process, in the order the calls came', async () => {
    const asked: number[] = [];
    let free = 0;
    const start = Date.now();
    // A token every 100 ms.
    const rate: SharedRate = {
      take: async () => {
        asked.push(Date.now() - start);
        const now = Date.now() - start;
        if (now >= free) {
          free = now + 100;
          return 0;
        }
        return free - now;
      },
    };
    const budget = new SharedBudget(rate, recordingLogger([]));
    const order: number[] = [];
    await Promise.all([0, 1, 2, 3].map((i) => budget.acquire('b', 600, 1).then(() => order.push(i))));
    expect(order).toEqual([0, 1, 2, 3]);
    expect(Date.now() - start).toBeGreaterThanOrEqual(290);
    // One take per token, plus at most one early ask per wait: no busy loop.
    expect(asked.length).toBeLessThanOrEqual(8);
  });
});
