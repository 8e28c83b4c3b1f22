import type { Usage } from '../research/types.js';

/** What the engine reports for metrics; implemented with prom-client outside the core. */
export interface Telemetry {
  researchFailed(code: string): void;
  tokensUsed(usage: Usage): void;
}

export const noTelemetry: Telemetry = {
  researchFailed() {},
  tokensUsed() {},
};
