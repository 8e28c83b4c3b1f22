import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../core/ports/logger.js';
import { checkedUrl, failFastOptions, reconnectDelay, redact, watchOutages } from './redis-connection.js';

/** A `redis://` / `rediss://` URL, or ioredis options (host, port, db, password, tls…). */
export type RedisTarget = string | RedisOptions;

/**
 * The connections one process's research queue holds. BullMQ is given ioredis clients rather than options (in
 * ESM it cannot load ioredis itself), and leaves clients it was given open: they are closed here.
 * - producer: add, cancel, positions, the cancel channel's PUBLISH. Fails fast (no offline queue, command
 *   timeout) so an engine call during an outage is refused instead of hanging.
 * - worker: BullMQ's worker (it makes its own blocking duplicate for BZPOPMIN). As BullMQ requires for workers,
 *   commands wait for the connection to come back (maxRetriesPerRequest null, offline queue) and no command
 *   timeout, since the blocking fetch waits on purpose.
 * - subscriber: the cancel channel (ioredis subscribes again after a reconnection).
 */
export interface BullConnections {
  producer: Redis;
  worker: Redis;
  subscriber: Redis;
}

export interface ConnectionOptions {
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  /** Names the connections in CLIENT LIST. */
  name: string;
  log: Logger;
}

export function openConnections(target: RedisTarget, opts: ConnectionOptions): BullConnections {
  const connectTimeout = opts.connectTimeoutMs ?? 2000;
  const open = (role: string, extra: RedisOptions): Redis => {
    const options: RedisOptions = { ...extra, connectionName: `${opts.name}:${role}` };
    const client = typeof target === 'string' ? new Redis(checkedUrl(target), options) : new Redis({ ...target, ...options });
    watchOutages(client, opts.log, { redis: describe(target), connection: role }, 'research queue: ');
    return client;
  };
  return {
    producer: open('producer', failFastOptions({ connectTimeoutMs: connectTimeout, commandTimeoutMs: opts.commandTimeoutMs })),
    worker: open('worker', { connectTimeout, retryStrategy: reconnectDelay, maxRetriesPerRequest: null, enableOfflineQueue: true }),
    subscriber: open('subscriber', { connectTimeout, retryStrategy: reconnectDelay, maxRetriesPerRequest: null }),
  };
}

function describe(target: RedisTarget): string {
  return typeof target === 'string' ? redact(target) : `${target.host ?? '127.0.0.1'}:${target.port ?? 6379}`;
}

/** Logs errors BullMQ emits, the same message at most once every 30 s (a worker retries during an outage). */
export function errorLogger(log: Logger, what: string): (err: unknown) => void {
  const last = new Map<string, number>();
  return (err: unknown) => {
    const message = (err as Error)?.message ?? String(err);
    const now = Date.now();
    if ((last.get(message) ?? -Infinity) > now - 30_000) return;
    if (last.size > 100) last.clear();
    last.set(message, now);
    log.warn({ err: message }, `research queue: ${what} error`);
  };
}

export async function closeClient(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  // QUIT when connected (its answer is awaited at most briefly), otherwise just drop the socket.
  if (client.status === 'ready') await Promise.race([client.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
  client.disconnect();
}
