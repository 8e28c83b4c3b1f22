import { afterAll, describe, expect } from 'vitest';
import { RedisStore } from '../../src/store/redis.js';
import { storeContract } from './contract.js';
import { deleteKeys, REDIS_URL, redisReachable, requireRedis, runPrefix } from './redis-env.js';

const reachable = await redisReachable();
requireRedis(reachable, 'RedisStore contract tests');

describe.runIf(reachable)('RedisStore', () => {
  const prefix = runPrefix('contract');
  let n = 0;

  afterAll(async () => {
    await deleteKeys(prefix);
    expect(await deleteKeys(prefix)).toBe(0);
  });

  // Each test its own prefix under the file's, so tests start empty; the peer is a second connection on the same keys.
  storeContract('redis', async () => new RedisStore(REDIS_URL, { prefix: `${prefix}${++n}:` }), {
    peer: async (store) => new RedisStore(REDIS_URL, { prefix: (store as RedisStore).prefix }),
  });
});
