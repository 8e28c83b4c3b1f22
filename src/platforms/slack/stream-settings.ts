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
}

export const DEFAULT_STREAM_SETTINGS: StreamSettings = { lifetimeMs: 240_000, maxSegmentChars: 10_000, tickMs: 5_000, maxSegments: 60, deliverTimeoutMs: 60_000 };
