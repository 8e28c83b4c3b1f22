import type { ThreadKey } from './ports/chat.js';
import type { ThreadLock } from './ports/queue.js';

/** One thread handled by one piece of work at a time, in arrival order; different threads run side by side. */
export class ThreadLocks implements ThreadLock {
  private readonly tails = new Map<ThreadKey, Promise<unknown>>();

  run<T>(key: ThreadKey, f: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(f, f);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }

  /** Resolves when all the work queued so far has settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.tails.values()]);
  }
}
