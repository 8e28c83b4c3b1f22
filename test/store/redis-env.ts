import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { expect, it } from 'vitest';

/**
 * The real Redis the Redis tests talk to: `REDIS_TEST_URL`, or the local one every machine of the project and CI
 * run. Each test file keeps its keys under a prefix of its own and deletes them afterwards.
 */
export const REDIS_URL = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379';

/** Whether Redis answers PING within `ms`, on a connection that gives up at once. */
export async function redisReachable(url = REDIS_URL, ms = 1500): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: ms, commandTimeout: ms, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * Says loudly that a file's Redis tests are skipped when Redis is unreachable; in CI (`CI` set) that is a failure,
 * registered as a failing test of the file.
 */
export function requireRedis(reachable: boolean, what: string): void {
  if (reachable) return;
  const bar = '!'.repeat(100);
  console.warn(
    `\n${bar}\n!!! ${what}: SKIPPED, no Redis answers at ${REDIS_URL}.\n` +
      `!!! Start one (redis-server --daemonize yes --port 6379 --save '' --appendonly no) or set REDIS_TEST_URL.\n${bar}\n`,
  );
  if (process.env.CI) {
    it(`${what} needs a reachable Redis in CI (${REDIS_URL})`, () => {
      expect.fail(`No Redis answers at ${REDIS_URL}: in CI the Redis tests must run, not be skipped (.ci/run starts redis-server).`);
    });
  }
}

/** A key prefix unique to this run of a test file. */
export function runPrefix(file: string): string {
  return `drbtest:${file}:${process.pid}:${randomUUID().slice(0, 8)}:`;
}

/** Deletes every key under `prefix` (SCAN + DEL); answers how many there were. */
export async function deleteKeys(prefix: string, url = REDIS_URL): Promise<number> {
  const client = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on('error', () => {});
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${globEscape(prefix)}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
  return deleted;
}

function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}
