import type { Logger } from './ports/logger.js';
import type { ThreadKey } from './ports/chat.js';

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
