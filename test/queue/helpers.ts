import type { Execute } from '../../src/core/ports/queue.js';
import { BullResearchQueue, createBullQueue, type BullQueueOptions } from '../../src/store/bullmq-queue.js';
import { REDIS_URL } from '../store/redis-env.js';

export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export interface Start {
  who: string;
  key: string;
  at: number;
  signal: AbortSignal;
  /** How the run ended: released by the test, or its signal aborted. */
  end?: 'released' | 'aborted';
}

/**
 * What the execute functions of several queue instances did, in one log, and the runs they hold: a run waits
 * until the test releases it (or `autoRelease`) or its signal aborts. `until` waits for a condition on the log,
 * re-checked on every start and end (an event, never a sleep).
 */
export class Runs {
  readonly starts: Start[] = [];
  autoRelease = false;
  private readonly gates = new Map<string, Deferred>();
  private watchers: { cond: () => boolean; done: () => void }[] = [];

  execute(who: string, work?: (key: string) => Promise<void>): Execute {
    return async (key, signal) => {
      const start: Start = { who, key, at: Date.now(), signal };
      this.starts.push(start);
      this.changed();
      if (work) {
        await work(key);
        start.end = 'released';
      } else {
        const gate = this.gate(key);
        if (this.autoRelease) gate.resolve();
        const aborted = new Promise<void>((r) => (signal.aborted ? r() : signal.addEventListener('abort', () => r(), { once: true })));
        start.end = await Promise.race([gate.promise.then(() => 'released' as const), aborted.then(() => 'aborted' as const)]);
        this.gates.delete(key);
      }
      this.changed();
    };
  }

  release(key: string): void {
    this.gate(key).resolve();
  }

  of(key: string): Start[] {
    return this.starts.filter((s) => s.key === key);
  }

  ended(): Start[] {
    return this.starts.filter((s) => s.end);
  }

  until(cond: () => boolean, what = 'condition', ms = 15_000): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; starts: ${JSON.stringify(this.summary())}`)), ms);
      this.watchers.push({ cond, done: () => (clearTimeout(timer), resolve()) });
    });
  }

  summary(): string[] {
    return this.starts.map((s) => `${s.who}:${s.key}${s.end ? `:${s.end}` : ''}`);
  }

  private gate(key: string): Deferred {
    let g = this.gates.get(key);
    if (!g) this.gates.set(key, (g = deferred()));
    return g;
  }

  private changed(): void {
    // After the current microtasks, so a run's bookkeeping is complete when the condition is checked.
    queueMicrotask(() => {
      this.watchers = this.watchers.filter((w) => (w.cond() ? (w.done(), false) : true));
    });
  }
}

export const FAST = { lockDurationMs: 2000, stalledIntervalMs: 1000, pollMs: 200 } satisfies Partial<BullQueueOptions>;

/** Queue instances standing for processes: each has its own connections; all are closed after each test. */
export class Instances {
  private readonly all: BullResearchQueue[] = [];
  readonly errors: { key: string; err: unknown }[] = [];

  constructor(readonly prefix: string) {}

  open(concurrency: number, execute: Execute, opts: Partial<BullQueueOptions> = {}): BullResearchQueue {
    const factory = createBullQueue({ redis: REDIS_URL, prefix: this.prefix, ...FAST, ...opts });
    const q = factory(concurrency, execute, (key, err) => this.errors.push({ key, err })) as BullResearchQueue;
    this.all.push(q);
    // A process's queue takes jobs once it has started (the bot starts it after its recovery).
    void q.start();
    return q;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.all.splice(0).map((q) => q.close()));
  }
}

/** Polls an async condition (a Redis state BullMQ reaches after execute returns) until it holds. */
export async function eventually(cond: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
