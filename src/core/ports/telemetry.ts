import type { Usage } from './research.js';

/** What the engine reports for metrics; implemented with prom-client outside the core. */
export interface Telemetry {
  researchFailed(code: string): void;
  tokensUsed(usage: Usage): void;
  /** A request refused by a cap or an allow-list. */
  requestRefused(): void;
  /** A message (question or progress) that could not be posted, even after retries. */
  postFailed(view: string): void;
  /** A run's estimated cost in yuan. */
  costYuan(model: string, yuan: number): void;
  /** A follow-up question answered, or failed (`outcome`: the error code). */
  followup(outcome: string): void;
  /** A run whose process died was taken over (run again or its report delivered) by this one. */
  takenOver(): void;
}

export const noTelemetry: Telemetry = {
  researchFailed() {},
  tokensUsed() {},
  requestRefused() {},
  postFailed() {},
  costYuan() {},
  followup() {},
  takenOver() {},
};
