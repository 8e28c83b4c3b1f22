import type { SharedBudget } from '../shared-budget.js';

/** Calls per minute one Web API method may make for the whole workspace, as a token bucket. */
export interface MethodBudget {
  /** Sustained calls per minute. */
  perMinute: number;
  /** Calls allowed in a burst; perMinute + burst stays under Slack's limit in any one minute. */
  burst: number;
}

export type StreamMethod = 'chat.startStream' | 'chat.appendStream' | 'chat.stopStream';

/**
 * The streaming methods' budgets, per workspace. Slack's tiers (per method, per workspace, per app): Tier 2 (20+ a
 * minute) for chat.startStream and chat.stopStream, Tier 4 (100+ a minute) for chat.appendStream. Each budget's
 * perMinute + burst stays under the tier's floor, so no window of 60 s ever holds more calls than the tier allows.
 */
export const DEFAULT_STREAM_BUDGETS: Record<StreamMethod, MethodBudget> = {
  'chat.startStream': { perMinute: 16, burst: 4 },
  'chat.appendStream': { perMinute: 94, burst: 4 },
  'chat.stopStream': { perMinute: 16, burst: 4 },
};

export class TokenBucket {
  private tokens: number;
  private refilledAt: number;
  /** No call before this time (a 429's Retry-After). */
  pausedUntil = 0;

  constructor(
    private readonly budget: MethodBudget,
    now = Date.now(),
  ) {
    this.tokens = budget.burst;
    this.refilledAt = now;
  }

  /** Takes a token when one is there. */
  take(now: number): boolean {
    this.refill(now);
    if (now < this.pausedUntil || this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Whole tokens there now (without taking any). */
  available(now: number): number {
    this.refill(now);
    return now < this.pausedUntil ? 0 : Math.floor(this.tokens);
  }

  /** When the next token is there. */
  readyAt(now: number): number {
    this.refill(now);
    const refill = this.tokens >= 1 ? now : now + Math.ceil((1 - this.tokens) / (this.budget.perMinute / 60_000));
    return Math.max(refill, this.pausedUntil);
  }

  /** Slack answered 429: nothing until Retry-After has passed, then the budget starts from empty. */
  pause(now: number, retryAfterSeconds: number): void {
    this.pausedUntil = now + Math.max(1, retryAfterSeconds) * 1000;
    this.tokens = 0;
    this.refilledAt = this.pausedUntil;
  }

  private refill(now: number): void {
    if (now <= this.refilledAt) return;
    this.tokens = Math.min(this.budget.burst, this.tokens + (now - this.refilledAt) * (this.budget.perMinute / 60_000));
    this.refilledAt = now;
  }
}

/** The longest a call waits for the cluster's budget before it goes anyway (a 429 is then handled as ever). */
const SHARED_WAIT_MS = 60_000;

/**
 * The streaming methods' budgets per workspace: a token bucket each in this process and, with a shared budget
 * (several processes), the cluster-wide bucket `slack:<team>:<method>` with the same limits.
 */
export class StreamBudgets {
  readonly limits: Record<StreamMethod, MethodBudget>;
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    limits: Partial<Record<StreamMethod, MethodBudget>>,
    private readonly shared?: SharedBudget,
  ) {
    this.limits = { ...DEFAULT_STREAM_BUDGETS, ...limits };
  }

  bucket(team: string, method: StreamMethod): TokenBucket {
    const key = `${team}:${method}`;
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = new TokenBucket(this.limits[method])));
    return b;
  }

  /** A call that won a local token also takes the cluster's, waiting for it; false when `stopped` meanwhile. */
  async acquireShared(team: string, method: StreamMethod, stopped: () => boolean): Promise<boolean> {
    if (!this.shared?.shared) return true;
    const { perMinute, burst } = this.limits[method];
    return this.shared.acquire(`slack:${team}:${method}`, perMinute, burst, SHARED_WAIT_MS, stopped);
  }

  /** Slack answered 429: this method waits in this process and in every other. */
  limited(team: string, method: StreamMethod, retryAfterSeconds: number): void {
    this.bucket(team, method).pause(Date.now(), retryAfterSeconds);
    this.shared?.pause(`slack:${team}:${method}`, Math.max(1, retryAfterSeconds) * 1000);
  }
}
