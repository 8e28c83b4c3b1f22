import type { WebClient } from '@slack/web-api';
import type { Logger } from '../../core/ports/logger.js';
import { Drain } from '../drain.js';
import { PlatformStats } from '../../core/ports/chat.js';
import { PERMANENT_EDIT_ERRORS, slackFailure } from './errors.js';
import type { MethodBudget, StreamMethod } from './budget.js';
import type { SharedBudget } from '../shared-budget.js';

export interface EditBudget {
  /** Sustained chat.update calls per minute for the whole workspace (Slack's Tier 3 is about 50). */
  perMinute: number;
  /** Calls allowed in a burst; perMinute + burst must stay under Slack's limit in any one minute. */
  burst: number;
  /** The streaming methods' budgets, when not Slack's tiers (DEFAULT_STREAM_BUDGETS). */
  streams?: Partial<Record<StreamMethod, MethodBudget>>;
}

export const DEFAULT_BUDGET: EditBudget = { perMinute: 44, burst: 4 };

/** How much sooner an urgent edit (a phase change, an end state) is served than an ordinary one that waited as long. */
const LEAD_MS = 5_000;

interface Pending {
  channel: string;
  ts: string;
  text: string;
  blocks: unknown[];
  /** Serve before ordinary edits: a phase change or an end state (the caller says; a final edit need not be urgent). */
  urgent: boolean;
  final: boolean;
  attempts: number;
  since: number;
}

/**
 * Edits messages within one workspace's chat.update budget, shared by all runs at once. The latest content
 * of a message replaces any edit of it still waiting (coalescing); the longest-waiting goes first, urgent ones 5 s
 * ahead; a final edit is retried until delivered. It uses its own WebClient that rejects rate-limited calls instead
 * of pausing, so a 429 here never stalls the other Slack calls. With a shared budget (several processes), each edit
 * also takes a token from the cluster-wide bucket `slack:<team>:chat.update` with the same limits, waiting for it if
 * need be.
 */
export class SlackEditor {
  private readonly pending = new Map<string, Pending>();
  private tokens: number;
  private refilledAt = Date.now();
  private pausedUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private sending = false;
  private readonly drain = new Drain();
  private stopped = false;
  /** The workspace (auth.test's team_id), naming the shared bucket. */
  team = '';

  constructor(
    private readonly client: WebClient,
    private readonly log: Logger,
    private readonly budget: EditBudget = DEFAULT_BUDGET,
    private readonly stats = new PlatformStats(),
    private readonly shared?: SharedBudget,
  ) {
    this.tokens = budget.burst;
  }

  edit(channel: string, ts: string, message: { text: string; blocks: unknown[] }, opts: { urgent: boolean; final: boolean }): void {
    const key = `${channel}:${ts}`;
    const prev = this.pending.get(key);
    this.pending.set(key, {
      channel,
      ts,
      ...message,
      urgent: opts.urgent || (prev?.urgent ?? false),
      final: opts.final || (prev?.final ?? false),
      attempts: 0,
      since: prev?.since ?? Date.now(),
    });
    this.schedule(0);
  }

  /**
   * Resolves once nothing is waiting to be sent, or after `timeoutMs` (edits paused by a 429 may wait long). When a
   * 429 pauses edits beyond `timeoutMs`, nothing could be sent in that time, so it resolves at once.
   */
  drained(timeoutMs = 5000): Promise<void> {
    const futile = !this.sending && this.pausedUntil > Date.now() + timeoutMs;
    return this.drain.wait((this.pending.size === 0 && !this.sending) || futile, timeoutMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private refill(now: number): void {
    const perMs = this.budget.perMinute / 60_000;
    this.tokens = Math.min(this.budget.burst, this.tokens + (now - this.refilledAt) * perMs);
    this.refilledAt = now;
  }

  private schedule(delayMs: number): void {
    if (this.timer || this.sending) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.pump();
    }, delayMs);
  }

  /**
   * The edit of the message that has waited longest, an urgent one counted as `LEAD_MS` older: a phase change or end
   * state goes ahead of edits that only move the clock, and none waits behind urgent ones for ever.
   */
  private next(): [string, Pending] | undefined {
    let best: [string, Pending] | undefined;
    const age = (p: Pending) => (p.urgent ? LEAD_MS : 0) - p.since;
    for (const entry of this.pending) if (!best || age(entry[1]) > age(best[1])) best = entry;
    return best;
  }

  private async pump(): Promise<void> {
    const now = Date.now();
    if (now < this.pausedUntil) return this.schedule(this.pausedUntil - now);
    this.refill(now);
    if (this.tokens < 1) return this.schedule(Math.ceil((1 - this.tokens) / (this.budget.perMinute / 60_000)));
    if (this.pending.size === 0) {
      this.drain.settled();
      return;
    }
    this.sending = true;
    if (this.shared?.shared) {
      // The cluster's budget too: while waiting for it, nothing else is sent and edits keep coalescing.
      const wait = await this.shared.wait(this.sharedBucket(), this.budget.perMinute, this.budget.burst);
      if (wait > 0) {
        this.sending = false;
        if (!this.stopped) this.schedule(wait);
        return;
      }
    }
    const [key, edit] = this.next()!;
    this.pending.delete(key);
    this.tokens -= 1;
    try {
      await this.client.chat.update({ channel: edit.channel, ts: edit.ts, text: edit.text, blocks: edit.blocks as never });
    } catch (err) {
      this.retryLater(key, edit, err);
    } finally {
      this.sending = false;
    }
    this.schedule(0);
  }

  private sharedBucket(): string {
    return `slack:${this.team || 'workspace'}:chat.update`;
  }

  private retryLater(key: string, edit: Pending, err: unknown): void {
    const failure = slackFailure(err);
    if (failure.rateLimited) {
      this.stats.rateLimited++;
      this.pausedUntil = Date.now() + (failure.retryAfter ?? 1) * 1000;
      this.tokens = 0;
      this.shared?.pause(this.sharedBucket(), (failure.retryAfter ?? 1) * 1000);
    } else {
      this.log.warn({ error: failure.code, final: edit.final }, 'chat.update failed');
      this.stats.error(failure.code);
      if (PERMANENT_EDIT_ERRORS.has(failure.code ?? '') || !edit.final || edit.attempts >= 5) return;
    }
    // Put it back unless a newer edit of the same message arrived meanwhile.
    if (!this.pending.has(key)) this.pending.set(key, { ...edit, attempts: edit.attempts + 1 });
  }
}
