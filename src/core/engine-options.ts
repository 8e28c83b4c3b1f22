import type { Limits } from './admission.js';
import type { BudgetSettings } from './budget.js';
import type { Rules } from './conversation.js';
import type { Platform } from './ports/chat.js';
import type { FollowupModel } from './ports/followup.js';
import type { QueueFactory, ThreadLock } from './ports/queue.js';
import type { Logger } from './ports/logger.js';
import type { ReportPages } from './ports/pages.js';
import type { ReportFormat, ResearchBackend } from './ports/research.js';
import type { ThreadStore } from './ports/store.js';
import type { Telemetry } from './ports/telemetry.js';

/** What the engine is built from: its ports, the conversation's rules and limits, and its timings. */
export interface EngineOptions {
  store: ThreadStore;
  backend: ResearchBackend;
  platforms: Platform[];
  rules: Rules;
  limits: Limits;
  format: ReportFormat;
  clock?: () => number;
  logger?: Logger;
  /** How long an event id is remembered for de-duplication. */
  eventTtlMs?: number;
  /** Least time between two progress views of one run, unless the phase or round changed. */
  progressIntervalMs?: number;
  /** Waits before each retry of a post that failed (the question, the progress message, a report part). */
  postRetryDelaysMs?: number[];
  /** The research model, its price and the monthly budget, for the estimated cost. */
  budget?: BudgetSettings;
  /** Report pages (PUBLIC_URL), when served. */
  pages?: ReportPages;
  telemetry?: Telemetry;
  /** Follow-up questions on finished reports: the chat model, its price and the per-person hourly limit. */
  followup?: { model: FollowupModel; limitPerHour: number; budget: BudgetSettings };
  /** Where research waits and runs; default: in this process (RunQueue). A cluster passes BullMQ's. */
  queue?: QueueFactory;
  /** One thread at a time; default: in this process. A cluster passes a Redis lock. */
  locks?: ThreadLock;
}
