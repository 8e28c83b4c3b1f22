export interface StreamSettings {
  /** Roll onto a fresh message this long after a stream started: Slack ends a stream about 5 minutes (~306 s) after its start. */
  lifetimeMs: number;
  /**
   * Text and task content one streamed message takes before the rest goes to a fresh one. Slack's cap on what a stream
   * accumulates is not documented (12,000 characters is reported); this stays well under it.
   */
  maxSegmentChars: number;
  /** Least time between two updates that only move the figures (elapsed time, tokens): the clock keeps moving. */
  tickMs: number;
  /** Most messages one run may roll onto before it goes back to an edited message. */
  maxSegments: number;
  /** How long delivering a report part through the stream may take before the part is posted as a message instead. */
  deliverTimeoutMs: number;
  /**
   * The longest a streamed run should go without a visible update. The workspace's append budget keeps only so many
   * streams that fresh (94 a minute at 9.6 s: 15); a run beyond them shows its progress in an edited message, which
   * chat.update's own budget keeps fresh, until a stream ends and its stream can open.
   */
  freshMs: number;
  /** Most runs streaming at once in one workspace; by default what the append budget keeps within `freshMs`. */
  maxStreams?: number;
}

export const DEFAULT_STREAM_SETTINGS: StreamSettings = { lifetimeMs: 240_000, maxSegmentChars: 10_000, tickMs: 5_000, maxSegments: 60, deliverTimeoutMs: 60_000, freshMs: 9_600 };
