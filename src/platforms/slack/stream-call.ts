import type { StreamMethod } from './budget.js';

/** Score bonus of work that must not wait behind detail: opening a stream, rolling over, the final state, report text. */
export const URGENT = 3_600_000;
/** Score bonus of a milestone (a new task, a status or phase change) over an update that only moves the clock. */
export const MILESTONE = 10_000;

/** `close`: ending a stream a process before this one left open. */
export type CallKind = 'open' | 'start' | 'append' | 'roll' | 'final' | 'close';

export interface StreamCall {
  method: StreamMethod;
  kind: CallKind;
  args: Record<string, unknown>;
  score: number;
  /** Records what the stream shows once Slack accepted the call. */
  accepted(ts: string | undefined, now: number): void;
}
