import { Redis } from 'ioredis';

/** The local Redis the tests and the bench use, unless REDIS_TEST_URL names another. */
export const REDIS_PROBE_URL = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379';

/** Whether Redis answers PING within `ms`, on a connection that gives up at once. */
export async function redisReachable(url = REDIS_PROBE_URL, ms = 1500): Promise<boolean> {
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

/** Deletes every key under `prefix` (SCAN + DEL); answers how many there were. */
export async function deleteKeys(prefix: string, url = REDIS_PROBE_URL): Promise<number> {
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
