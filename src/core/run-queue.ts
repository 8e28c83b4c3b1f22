import type { ThreadKey } from './ports/chat.js';
import type { Execute, ResearchQueue } from './ports/queue.js';

interface Job {
  key: ThreadKey;
  user: string;
}

/**
 * Research runs waiting for one of `concurrency` slots, taken fairly between people: the next run belongs to
 * the person with the fewest runs going and, among those, the one whose last run started longest ago (round
 * robin); within one person's runs, the oldest first. One person's many requests cannot make everyone else
 * wait behind them.
 */
export class RunQueue implements ResearchQueue {
  private readonly waiting: Job[] = [];
  private readonly running = new Map<ThreadKey, { user: string; ac: AbortController }>();
  /** When each person's latest run started, as a sequence number: the round-robin turn. */
  private readonly lastStart = new Map<string, number>();
  private starts = 0;
  private paused = false;
  private idle: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly execute: Execute,
    private readonly onError: (key: ThreadKey, err: unknown) => void,
  ) {}

  get size(): { running: number; queued: number } {
    return { running: this.running.size, queued: this.waiting.length };
  }

  /** Adds a run; false when the thread already has one waiting or running. */
  add(key: ThreadKey, user: string): boolean {
    if (this.paused || this.running.has(key) || this.waiting.some((j) => j.key === key)) return false;
    this.waiting.push({ key, user });
    this.pump();
    return true;
  }

  /** Takes a waiting run out of the queue, or aborts it if it is running. */
  cancel(key: ThreadKey): void {
    const i = this.waiting.findIndex((j) => j.key === key);
    if (i >= 0) this.waiting.splice(i, 1);
    this.running.get(key)?.ac.abort();
  }

  has(key: ThreadKey): boolean {
    return this.running.has(key) || this.waiting.some((j) => j.key === key);
  }

  /** 1-based place among the waiting runs in the order they will start; undefined when not waiting. */
  position(key: ThreadKey): number | undefined {
    const i = this.order().findIndex((j) => j.key === key);
    return i < 0 ? undefined : i + 1;
  }

  /** The place a run added now by `user` would take (1-based), or undefined when it would start at once. */
  positionIfAdded(user: string): number | undefined {
    if (this.running.size < this.concurrency && this.waiting.length === 0) return undefined;
    const i = this.order([...this.waiting, { key: '\0', user }]).findIndex((j) => j.key === '\0');
    return i + 1;
  }

  /** Keys of the waiting runs, in the order they will start. */
  waitingKeys(): ThreadKey[] {
    return this.order().map((j) => j.key);
  }

  /** Stops starting runs and forgets the waiting ones (they stay in the store for recovery). */
  pause(): void {
    this.paused = true;
    this.waiting.length = 0;
  }

  abortAll(): void {
    for (const r of this.running.values()) r.ac.abort();
  }

  /** Resolves when nothing runs (waiting runs do not count once paused). */
  onIdle(): Promise<void> {
    if (this.running.size === 0 && (this.paused || this.waiting.length === 0)) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** The order the runs will start in, if nothing else is added: each pick updates the person's load and turn. */
  private order(jobs: Job[] = this.waiting): Job[] {
    const load = new Map<string, number>();
    for (const r of this.running.values()) load.set(r.user, (load.get(r.user) ?? 0) + 1);
    const turn = new Map(this.lastStart);
    let seq = this.starts;
    const before = (a: Job, b: Job) => {
      const la = load.get(a.user) ?? 0;
      const lb = load.get(b.user) ?? 0;
      return la !== lb ? la < lb : (turn.get(a.user) ?? -1) < (turn.get(b.user) ?? -1);
    };
    const left = [...jobs];
    const out: Job[] = [];
    while (left.length > 0) {
      let best = 0;
      for (let i = 1; i < left.length; i++) if (before(left[i]!, left[best]!)) best = i;
      const [job] = left.splice(best, 1);
      out.push(job!);
      load.set(job!.user, (load.get(job!.user) ?? 0) + 1);
      turn.set(job!.user, ++seq);
    }
    return out;
  }

  private pump(): void {
    while (!this.paused && this.running.size < this.concurrency && this.waiting.length > 0) {
      const next = this.order()[0]!;
      this.waiting.splice(this.waiting.indexOf(next), 1);
      const ac = new AbortController();
      this.running.set(next.key, { user: next.user, ac });
      this.lastStart.set(next.user, ++this.starts);
      void Promise.resolve()
        .then(() => this.execute(next.key, ac.signal))
        .catch((err: unknown) => this.onError(next.key, err))
        .finally(() => {
          this.running.delete(next.key);
          this.pump();
          if (this.running.size === 0 && (this.paused || this.waiting.length === 0)) this.idle.splice(0).forEach((r) => r());
        });
    }
  }
}
