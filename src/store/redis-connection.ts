import { Redis, type RedisOptions } from 'ioredis';
import { silentLogger, type Logger } from '../core/ports/logger.js';

export interface RedisConnectOptions {
  /** How long one connection attempt, and a command waiting for the connection, may take (default 2000 ms). */
  connectTimeoutMs?: number;
  /** How long a command sent to a connected server may wait for its answer (default 5000 ms). */
  commandTimeoutMs?: number;
  log?: Logger;
}

/**
 * ioredis options for a store that must fail fast: while the connection is down a command is refused at once
 * (no offline queue, whose commands would run whenever Redis comes back, long after the caller was told they
 * failed), commands in flight when it drops are failed rather than resent, and a server that accepts but never
 * answers fails the command after `commandTimeoutMs`. The client keeps reconnecting in the background.
 */
export function failFastOptions(opts: RedisConnectOptions): RedisOptions {
  return {
    connectTimeout: opts.connectTimeoutMs ?? 2000,
    commandTimeout: opts.commandTimeoutMs ?? 5000,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: reconnectDelay,
    lazyConnect: false,
  };
}

/** Waits between reconnection attempts: 200 ms more each time, at most 2 s. */
export function reconnectDelay(attempt: number): number {
  return Math.min(attempt * 200, 2000);
}

/** Opens a client for `redis://HOST:PORT/DB` or `rediss://…` (TLS), logging an outage once and the recovery. */
export function openRedis(url: string, opts: RedisConnectOptions): Redis {
  const client = new Redis(checkedUrl(url, 'STORE_URL='), failFastOptions(opts));
  watchOutages(client, opts.log ?? silentLogger, { redis: redact(url) });
  return client;
}

/** The URL, when it is a `redis://` or `rediss://` one. */
export function checkedUrl(url: string, label = ''): string {
  if (!/^rediss?:\/\//i.test(url)) throw new Error(`${label}${redact(url)} is not a redis:// or rediss:// URL.`);
  return url;
}

/**
 * Logs an outage once and the recovery (`what` names the user: "research queue: "); without an 'error' listener
 * ioredis would print every failed reconnection to the console.
 */
export function watchOutages(client: Redis, log: Logger, fields: Record<string, string>, what = ''): void {
  let down = false;
  client.on('error', (err: Error) => {
    if (down) return;
    down = true;
    log.warn({ ...fields, err: (err as { code?: string }).code ?? err.message }, `${what}redis unreachable`);
  });
  client.on('ready', () => {
    if (!down) return;
    down = false;
    log.info(fields, `${what}redis reachable again`);
  });
}

/**
 * Waits until the client is connected, for at most `ms`: a store command issued while it connects (at start, or
 * while it reconnects) goes through once it can; one issued during an outage fails after `ms`.
 */
export async function whenReady(client: Redis, ms: number): Promise<void> {
  if (client.status === 'ready') return;
  if (client.status === 'end') throw new Error('Redis connection is closed (end)');
  if (client.status === 'wait') client.connect().catch(() => {});
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('end', onEnd);
      if (err) reject(err);
      else resolve();
    };
    const onReady = () => done();
    const onEnd = () => done(new Error('Redis connection is closed (end)'));
    const timer = setTimeout(() => done(new Error(`Redis is not reachable (${client.status} after ${ms} ms)`)), ms);
    client.on('ready', onReady);
    client.on('end', onEnd);
  });
}

/** The URL without its password, for messages and logs. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
