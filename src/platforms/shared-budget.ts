import type { Logger } from '../core/ports/logger.js';
import type { SharedRate } from '../core/ports/rate.js';
import { ThreadLocks } from '../core/thread-locks.js';

export interface SharedBudgetOptions {
  /** How long one take may take before the shared store counts as unreachable (default 2000 ms). */
  timeoutMs?: number;
  /** After a failure, how long calls go by the local budget alone before the shared one is asked again (default 30 s). */
  retryMs?: number;
  /** The longest one wait before asking again (default 5000 ms): a pause, a long refill, are waited out in steps. */
  maxSleepMs?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A platform's side of the shared rate budget (core/ports/rate.ts): every call a platform budgets in its own process
 * also takes a token from the cluster-wide bucket of the same name and limits, so that all processes together stay
 * inside the platform's limits; the local scheduling still decides which run goes first within a process.
 *
 * Without a SharedRate nothing is asked and every call goes at once. When the shared store is unreachable (a take
 * rejects or does not answer within `timeoutMs`), a run must not stall on it: calls go by the local budget alone,
 * as a single process would, logged once; the shared budget is asked again after `retryMs`, and its return logged.
 */
export class SharedBudget {
  private readonly timeoutMs: number;
  private readonly retryMs: number;
  private readonly maxSleepMs: number;
  /** The shared store failed: local budgets only until then. */
  private downUntil = 0;
  private down = false;
  /** The callers of each bucket waiting in line (acquire), in arrival order. */
  private readonly lines = new ThreadLocks();

  constructor(
    private readonly rate: SharedRate | undefined,
    private readonly log: Logger,
    opts: SharedBudgetOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.retryMs = opts.retryMs ?? 30_000;
    this.maxSleepMs = opts.maxSleepMs ?? 5000;
  }

  get shared(): boolean {
    return this.rate !== undefined;
  }

  /**
   * Takes a token from `bucket`: 0 when the call may go now (taken, or no shared budget to ask), otherwise the ms
   * to wait before asking again (at most `maxSleepMs`, with a little jitter so that waiting processes do not all
   * ask at the same instant). Never rejects.
   */
  async wait(bucket: string, perMinute: number, burst: number): Promise<number> {
    if (!this.rate || Date.now() < this.downUntil) return 0;
    let timer: NodeJS.Timeout | undefined;
    try {
      const ms = await Promise.race([
        this.rate.take(bucket, perMinute, burst),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs))),
      ]);
      this.up();
      if (!(ms > 0)) return 0;
      return Math.min(this.maxSleepMs, Math.ceil(ms + Math.random() * Math.min(25, ms / 4)));
    } catch (err) {
      this.failed(err);
      return 0;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Waits until a token of `bucket` is taken, asking again after each wait the budget names (never in a busy loop).
   * The callers of one bucket in this process wait in line, in the order they came, and only the first asks the
   * shared budget: each process has at most one asker per bucket, however many calls wait. Once first in line, a
   * call that has waited `maxWaitMs` goes anyway (true): the platform's handling of a 429 is the last resort, as
   * without a shared budget. A call the platform gives up on while it waits (`gaveUp`: it is stopping) answers
   * false, and must not be made: it has no token.
   */
  acquire(bucket: string, perMinute: number, burst: number, maxWaitMs = 60_000, gaveUp: () => boolean = () => false): Promise<boolean> {
    if (!this.rate) return Promise.resolve(true);
    return this.lines.run(bucket, () => this.takeInTurn(bucket, perMinute, burst, maxWaitMs, gaveUp));
  }

  private async takeInTurn(bucket: string, perMinute: number, burst: number, maxWaitMs: number, gaveUp: () => boolean): Promise<boolean> {
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      if (gaveUp()) return false;
      const ms = await this.wait(bucket, perMinute, burst);
      if (ms === 0) return true;
      const left = deadline - Date.now();
      if (left <= 0) {
        this.log.warn({ bucket, waitedMs: maxWaitMs }, 'shared rate budget: waited too long for a token; calling anyway');
        return true;
      }
      await sleep(Math.min(ms, left));
    }
  }

  /** The platform answered 429 for `bucket`: every process pauses it for `ms` (best effort, never rejects). */
  pause(bucket: string, ms: number): void {
    if (!this.rate?.pause || Date.now() < this.downUntil) return;
    this.rate.pause(bucket, ms).then(
      () => this.up(),
      (err: unknown) => this.failed(err),
    );
  }

  private up(): void {
    if (!this.down) return;
    this.down = false;
    this.log.info({}, 'shared rate budget reachable again; calls take from it again');
  }

  private failed(err: unknown): void {
    this.downUntil = Date.now() + this.retryMs;
    if (this.down) return;
    this.down = true;
    this.log.warn({ err: (err as Error)?.message ?? String(err) }, 'shared rate budget unreachable; each process goes by its own budget until it is back');
  }
}
