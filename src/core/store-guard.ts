import type { Logger } from './ports/logger.js';
import type { ThreadKey } from './ports/chat.js';
import { StoreUnavailableError } from './ports/store.js';

/** A store write failed: the conversation could not be saved. */
export class StoreWriteError extends Error {
  constructor(
    readonly op: string,
    cause: unknown,
  ) {
    super(`${op} failed: ${(cause as { code?: string })?.code ?? (cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'StoreWriteError';
  }
}

/** Runs store writes; a failure is logged with the write's name and kept as the reason the bot is not ready. */
export class StoreGuard {
  /** Why the last write failed, until one succeeds again. */
  problem: string | undefined;

  constructor(private readonly log: Logger) {}

  async write<T>(op: string, thread: ThreadKey, f: () => Promise<T>): Promise<T> {
    try {
      const result = await f();
      this.problem = undefined;
      return result;
    } catch (err) {
      const failure = new StoreWriteError(op, err);
      this.problem = failure.message;
      this.log.error({ thread, op, err: failure.message }, 'store write failed');
      throw failure;
    }
  }
}

/**
 * The store could not be used: a write failed, the store was unreachable for a read, or a thread's lock could not
 * be had in time (the ThreadLock port's `ELOCKTIMEOUT`). All are worth trying again.
 */
export function isStoreOutage(err: unknown): boolean {
  return err instanceof StoreWriteError || err instanceof StoreUnavailableError || (err as { code?: unknown } | undefined)?.code === 'ELOCKTIMEOUT';
}

/** Waits between attempts to store how a paid run ended: about 15 minutes in all. */
const PERSIST_WAITS_S = [1, 2, 5, 10, 20, 30, 60, 60, 60, 120, 120, 120, 300];

/**
 * Stores how a paid run ended, retrying while the store cannot be written (a Redis outage), so the answer is
 * stored once the store is back rather than lost (and paid for again). Gives up when the process is stopping.
 */
export async function persistently(write: () => Promise<unknown>, log: Logger, thread: ThreadKey, stopping: () => boolean): Promise<void> {
  for (const seconds of PERSIST_WAITS_S) {
    try {
      return void (await write());
    } catch (err) {
      if (!isStoreOutage(err) || stopping()) throw err;
      log.warn({ thread, retryInSeconds: seconds }, 'could not store how the research ended; retrying');
      await new Promise((r) => setTimeout(r, seconds * 1000));
    }
  }
  await write();
}
