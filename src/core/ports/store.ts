import type { Feedback } from './chat.js';
import type { RunState, ThreadState } from './thread.js';

/**
 * Durable conversation state. Shaped so that a Redis implementation can follow: an atomic claim of an event
 * id (SET NX PX) and compare-and-set on a thread's version (WATCH/MULTI or a Lua script).
 */
export interface ThreadStore {
  /** True the first time an id is claimed within `ttlMs`; false for a duplicate delivery. */
  claimEvent(id: string, ttlMs: number, now: number): Promise<boolean>;
  get(key: string): Promise<ThreadState | undefined>;
  /**
   * Writes the thread if its stored version is still `state.version` (absent counts as 0) and returns it with
   * the version incremented; returns undefined when someone else wrote it first.
   */
  save(state: ThreadState): Promise<ThreadState | undefined>;
  /** Threads in any of these states (last written at or after `updatedSince`, when given), oldest first. */
  inStates(states: RunState[], updatedSince?: number): Promise<ThreadState[]>;
  /**
   * A sliding-window rate limit as one atomic step: true (and the hit counted) when `bucket` has fewer than
   * `limit` hits in the `windowMs` before `now`; false otherwise (nothing counted).
   */
  hit(bucket: string, limit: number, windowMs: number, now: number): Promise<boolean>;
  /**
   * Admission and save as one atomic step: refuses when the requester already has `perUser` other threads in
   * `busy` states, or (with `countDaily` and a `dailyLimit` above 0) already `dailyLimit` requests that day;
   * otherwise saves the thread like `save` and, with `countDaily`, counts the request for the day.
   */
  admit(state: ThreadState, rule: AdmissionRule): Promise<Admission>;
  runsOn(user: string, day: string): Promise<number>;
  /** Keeps a person's latest feedback on a thread's report (a later click replaces an earlier one). */
  saveFeedback(thread: string, user: string, value: Feedback, now: number): Promise<void>;
  /** Feedback by value: each person's latest click per thread. */
  countFeedback(): Promise<Record<Feedback, number>>;
  /** Adds a run's estimated cost to a month's spend (`YYYY-MM`, UTC). */
  addSpend(month: string, yuan: number): Promise<void>;
  spentIn(month: string): Promise<number>;
  /** Keeps a report page (rendered data, JSON) until `expiresAt` (undefined: kept). */
  savePage(id: string, data: string, createdAt: number, expiresAt?: number): Promise<void>;
  /** A page that exists and has not expired at `now`. */
  getPage(id: string, now: number): Promise<string | undefined>;
  /** The thread a bot message (clarify or progress) belongs to, by the message id the platform gave. */
  threadOfMessage(messageId: string): Promise<string | undefined>;
  /** Threads by state, for metrics. */
  countByState(): Promise<Partial<Record<RunState, number>>>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface AdmissionRule {
  busy: readonly RunState[];
  perUser: number;
  dailyLimit: number;
  countDaily: boolean;
  day: string;
}

export type Admission =
  | { ok: true; state: ThreadState }
  | { ok: false; reason: 'per-user' | 'daily' }
  /** The thread changed elsewhere since it was read. */
  | { ok: false; reason: 'conflict' };

export function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

/** The store could not be reached (Redis down, or not answering in time): the same call can succeed later. */
export class StoreUnavailableError extends Error {
  readonly code = 'ESTOREUNAVAILABLE';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}
