import type { Budget } from './budget.js';
import { formatYuan } from './cost.js';
import { strings } from './i18n.js';
import type { ThreadStore } from './ports/store.js';
import type { Telemetry } from './ports/telemetry.js';
import { RUNNING_STATES, type ThreadState } from './ports/thread.js';

export interface Limits {
  maxConcurrent: number;
  perUser: number;
  dailyPerUser: number;
  allowedChannels: string[];
  allowedUsers: string[];
}

const HOUR_MS = 3_600_000;

/** Refusal notices per person per minute; a flood beyond that is refused without a message each. */
const REFUSAL_NOTICES_PER_MINUTE = 3;

export type Verdict =
  /** `warn`: admitted, and the person should hear that the monthly budget is nearly spent. */
  | { ok: true; state: ThreadState; warn?: string }
  /** Refused: `text` says why; `tell` is false once the person has been told often enough this minute. */
  | { ok: false; text: string; tell: boolean }
  /** The thread changed elsewhere since it was read. */
  | { ok: false; text?: undefined; tell: false };

export function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

/**
 * Who may start a billed run, and how many: allow-lists, then the caps checked and counted in one atomic
 * store step (requests under way per person, step 1 included; requests per person per day). A new request or
 * a retry counts for the day; answering the question of a request already counted does not.
 */
export class Admission {
  /** When each person was last told of a refusal, to keep a flood from becoming a flood of notices. */
  private readonly told = new Map<string, number[]>();

  constructor(
    private readonly store: ThreadStore,
    private readonly limits: Limits,
    private readonly clock: () => number,
    private readonly telemetry: Telemetry,
    private readonly budget?: Budget,
  ) {}

  /** Saves `next` if it is admitted. `write` wraps the store step (so a failure is reported like any write). */
  async admit(next: ThreadState, prev: ThreadState | undefined, write: <T>(op: string, f: () => Promise<T>) => Promise<T>): Promise<Verdict> {
    const t = strings(next.lang);
    const { allowedChannels, allowedUsers, perUser, dailyPerUser } = this.limits;
    if (allowedChannels.length > 0 && !allowedChannels.includes(next.channel)) return this.refuse(next, t.notAllowedChannel);
    if (allowedUsers.length > 0 && !allowedUsers.includes(next.requester)) return this.refuse(next, t.notAllowedUser);
    const standing = (await this.budget?.standing()) ?? { level: 'ok' as const };
    if (standing.level === 'spent') return this.refuse(next, t.budgetSpent(formatYuan(standing.limit)));
    const now = this.clock();
    // Answering a request's own question is not a new request; the focus of "Research further" starts one.
    const countDaily = prev?.state !== 'awaiting_answer' || next.further !== undefined;
    const rule = { busy: RUNNING_STATES, perUser, dailyLimit: dailyPerUser, countDaily, day: utcDay(now) };
    const admission = await write('admit request', () => this.store.admit(next, rule));
    if (admission.ok) return standing.level === 'warn' ? { ...admission, warn: t.budgetWarning(formatYuan(standing.spent), formatYuan(standing.limit)) } : admission;
    if (admission.reason === 'per-user') return this.refuse(next, t.perUserLimit(perUser));
    if (admission.reason === 'daily') return this.refuse(next, t.dailyLimit(dailyPerUser));
    return { ok: false, tell: false };
  }

  /**
   * A follow-up question by `user` in `next`'s thread, saved when it may be asked: follow-ups must be set up
   * (`perHour`), the allow-list of people applies, then their hourly limit, counted in one atomic store step (so a
   * burst from several processes cannot pass it).
   */
  async followup(next: ThreadState, user: string, perHour: number | undefined, write: <T>(op: string, f: () => Promise<T>) => Promise<T>): Promise<Verdict> {
    const t = strings(next.lang);
    if (perHour === undefined) return this.refuse(user, t.followup.unavailable);
    if (this.limits.allowedUsers.length > 0 && !this.limits.allowedUsers.includes(user)) return this.refuse(user, t.notAllowedUser);
    if (!(await write('count follow-up', () => this.store.hit(`followup:${next.platform}:${user}`, perHour, HOUR_MS, this.clock())))) {
      return this.refuse(user, t.followup.limit(perHour));
    }
    const state = await write('save thread', () => this.store.save(next));
    return state ? { ok: true, state } : { ok: false, tell: false };
  }

  private refuse(next: ThreadState | string, text: string): { ok: false; text: string; tell: boolean } {
    this.telemetry.requestRefused();
    const who = typeof next === 'string' ? next : next.requester;
    const now = this.clock();
    const recent = (this.told.get(who) ?? []).filter((at) => now - at < 60_000);
    const tell = recent.length < REFUSAL_NOTICES_PER_MINUTE;
    if (tell) this.told.set(who, [...recent, now]);
    return { ok: false, text, tell };
  }
}
