import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ThreadKey } from '../core/ports/chat.js';
import { silentLogger, type Logger } from '../core/ports/logger.js';
import type { ThreadLock } from '../core/ports/queue.js';

export interface RedisThreadLockOptions {
  /** Key prefix, as the store's (default `drb:`): the lock of a thread is `<prefix>lock:<thread>`. */
  prefix?: string;
  /** How long the lock lasts unless renewed (default 30 000); renewed every third of it while the work runs. */
  ttlMs?: number;
  /** How long to wait for the lock before giving up with ThreadLockTimeoutError (default 30 000). */
  waitMs?: number;
  log?: Logger;
}

/** The thread stayed locked by another process (or Redis stayed unreachable) for the whole wait. */
export class ThreadLockTimeoutError extends Error {
  readonly code = 'ELOCKTIMEOUT';
  constructor(
    readonly thread: ThreadKey,
    waitedMs: number,
    cause?: unknown,
  ) {
    const why = cause ? `Redis failed: ${(cause as Error).message ?? String(cause)}` : 'held by another process';
    super(`could not lock thread ${thread} within ${waitedMs} ms (${why})`, cause ? { cause } : undefined);
    this.name = 'ThreadLockTimeoutError';
  }
}

/** Renews the lock if this holder still has it (1) or answers 0. */
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
/** Deletes the lock only if this holder still has it: an expired holder never frees the next holder's lock. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * One thread handled by one piece of work at a time across the cluster. In this process, work for a thread runs
 * in arrival order (a promise chain per thread, like the core's ThreadLocks); each piece then takes a Redis
 * mutex for the thread: SET key token NX PX ttl, retried with a short jittered backoff for at most `waitMs`,
 * renewed while the work runs, released with a compare-and-delete script.
 *
 * Fencing: a lock with an expiry cannot by itself stop a holder that stalled past the expiry (a long GC pause, a
 * lost connection) from writing after someone else took the lock. The fence is the store: every save is a
 * compare-and-set on the thread's version, so such a late holder's save is refused (it read an older version)
 * rather than overwriting the newer state. The lock keeps two processes from working on a thread at once in the
 * normal case; the version keeps the state right when the lock cannot.
 *
 * The client should be the store's fail-fast one (no offline queue): during an outage every attempt fails at
 * once and is retried until `waitMs`, then the work is refused with ThreadLockTimeoutError.
 */
export class RedisThreadLock implements ThreadLock {
  private readonly prefix: string;
  private readonly ttlMs: number;
  private readonly waitMs: number;
  private readonly log: Logger;

  constructor(
    private readonly client: Redis,
    /** Work for one thread in this process, in arrival order (the core's ThreadLocks), before the Redis lock. */
    private readonly local: ThreadLock,
    opts: RedisThreadLockOptions = {},
  ) {
    this.prefix = opts.prefix ?? 'drb:';
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.waitMs = opts.waitMs ?? 30_000;
    this.log = opts.log ?? silentLogger;
  }

  run<T>(key: ThreadKey, f: () => Promise<T>): Promise<T> {
    return this.local.run(key, () => this.locked(key, f));
  }

  /** Resolves when all the work queued so far here has settled. */
  settled(): Promise<void> {
    return this.local.settled();
  }

  private async locked<T>(key: ThreadKey, f: () => Promise<T>): Promise<T> {
    const lockKey = `${this.prefix}lock:${key}`;
    const token = randomUUID();
    await this.acquire(key, lockKey, token);
    const held = { done: false, lost: false };
    const renewal = setInterval(() => void this.renew(key, lockKey, token, held), Math.max(50, Math.floor(this.ttlMs / 3)));
    renewal.unref();
    try {
      return await f();
    } finally {
      held.done = true;
      clearInterval(renewal);
      await this.client.eval(RELEASE, 1, lockKey, token).catch((err: unknown) => {
        this.log.warn({ thread: key, err: (err as Error).message }, 'could not release the thread lock; it expires by itself');
      });
    }
  }

  private async acquire(key: ThreadKey, lockKey: string, token: string): Promise<void> {
    const start = Date.now();
    let lastError: unknown;
    for (let attempt = 0; ; attempt++) {
      try {
        if ((await this.client.set(lockKey, token, 'PX', this.ttlMs, 'NX')) === 'OK') return;
        lastError = undefined;
      } catch (err) {
        lastError = err;
      }
      const left = this.waitMs - (Date.now() - start);
      if (left <= 0) throw new ThreadLockTimeoutError(key, this.waitMs, lastError);
      // 10, 20, 40 … up to 200 ms, with jitter so waiting processes do not retry in step.
      const backoff = Math.min(200, 10 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random() / 2);
      await new Promise((r) => setTimeout(r, Math.min(backoff, left)));
    }
  }

  private async renew(key: ThreadKey, lockKey: string, token: string, held: { done: boolean; lost: boolean }): Promise<void> {
    if (held.lost) return;
    try {
      if ((await this.client.eval(RENEW, 1, lockKey, token, this.ttlMs)) !== 1 && !held.done) {
        held.lost = true;
        this.log.warn({ thread: key }, 'thread lock expired while its work ran (another process may hold it; the store version fences writes)');
      }
    } catch (err) {
      if (!held.done) this.log.warn({ thread: key, err: (err as Error).message }, 'could not renew the thread lock');
    }
  }
}
