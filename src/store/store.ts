import type { ThreadState } from '../core/conversation.js';
import type { RunState } from '../platforms/platform.js';

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
  /** Threads in any of these states, oldest first. */
  inStates(states: RunState[]): Promise<ThreadState[]>;
  /** Threads of one user in any of these states. */
  countByUser(user: string, states: RunState[]): Promise<number>;
  /** Adds one to a user's research runs of a day and returns the new count. */
  countRun(user: string, day: string): Promise<number>;
  runsOn(user: string, day: string): Promise<number>;
  /** Threads by state, for metrics. */
  countByState(): Promise<Partial<Record<RunState, number>>>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}
