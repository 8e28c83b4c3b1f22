import type { FileRef, ThreadKey } from './chat.js';
import type { ReportFile, ResearchErrorCode, Usage } from './research.js';

/** The state of a thread's conversation (see the diagram in DESIGN.md). */
export type RunState = 'clarifying' | 'awaiting_answer' | 'queued' | 'researching' | 'done' | 'failed' | 'cancelled';

/** States in which a run is under way or waiting for a slot. */
export const RUNNING_STATES: readonly RunState[] = ['clarifying', 'queued', 'researching'];
/** States in which the conversation still goes on: the running ones and a question waiting for its answer. */
export const ACTIVE_STATES: readonly RunState[] = [...RUNNING_STATES, 'awaiting_answer'];

const ACTIVE: ReadonlySet<RunState> = new Set(ACTIVE_STATES);

export function isActive(state: RunState): boolean {
  return ACTIVE.has(state);
}

export type Lang = 'en' | 'zh';

/** Why a run ended badly: DashScope's error, a restart too many, the bot itself, or a message it could not post. */
export type FailureCode = ResearchErrorCode | 'interrupted' | 'internal' | 'not_posted';

/** Everything the bot remembers about one thread. Stored before any effect of a change is visible. */
export interface ThreadState {
  key: ThreadKey;
  platform: string;
  channel: string;
  requester: string;
  topic: string;
  lang: Lang;
  state: RunState;
  question?: string;
  answer?: string;
  /** Which step the current or last run is: 1 asks the clarifying question, 2 researches. */
  step: 1 | 2;
  /** Runs started for the current step (each is billed); bounded by the configured attempts. */
  attempts: number;
  /** A run of the current step has started and not yet ended (so a restart interrupted it). */
  running?: boolean;
  failure?: { code: FailureCode; detail?: string; retryable: boolean };
  usage?: Usage;
  /** Files attached to the request, passed to the research (deep-search-agent session files). */
  files?: FileRef[];
  /** Images attached to the request, passed to a backend that reads images (qwen-deep-research). */
  images?: FileRef[];
  /** This round takes an earlier report further: the request is built from its summary and the focus (`answer`). */
  further?: FurtherOf;
  /** The last report delivered in this thread, kept for follow-up questions and "Research further". */
  report?: StoredReport;
  /** Follow-up questions about `report` and their answers, oldest first (the latest few are kept). */
  turns?: Turn[];
  /** The finished answer, kept until the report is posted so a restart never re-runs a paid research. */
  result?: Result;
  /** Parts of the report delivered so far: a restart resumes at the next one. */
  reportDelivered?: number;
  /** Words in the last report, for the final progress view. */
  words?: number;
  /** The report's page (PUBLIC_URL), once published. */
  pageUrl?: string;
  /** The first message of the report being delivered, once posted (what a later round links to). */
  reportMessageId?: string;
  /** The bot's messages, recorded when their post is confirmed. */
  clarifyMessageId?: string;
  progressMessageId?: string;
  /** Notices already given in this round, so each is said once. */
  notices: string[];
  /** Research rounds in this thread: a new mention after the end starts another. */
  round: number;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface Result {
  answer: string;
  references: { index: number; url: string; title: string; description: string }[];
  /** Files the backend made beside the report (the agent's HTML), and where it keeps them. */
  files?: ReportFile[];
  /** Every page the research visited: the references are checked against them. */
  visited?: string[];
  filePath?: string;
}


/** A report kept after delivery: what follow-up questions are answered from. */
export interface StoredReport {
  round: number;
  topic: string;
  answer: string;
  references: Result['references'];
  pageUrl?: string;
  /** Its first message, for a link to it. */
  messageId?: string;
}

/** The earlier report a "Research further" round builds on. */
export interface FurtherOf {
  round: number;
  topic: string;
  /** The earlier report's opening, passed to the research as what is already known. */
  summary: string;
  pageUrl?: string;
  messageId?: string;
}

/** One follow-up question and its answer (undefined while it is being answered). */
export interface Turn {
  /** Unique in the thread: tags the answer's message (`followup:<id>`). */
  id: number;
  user: string;
  question: string;
  answer?: string;
  messageId?: string;
  usage?: Usage;
  /** Answering failed (the answer's message says why). */
  failed?: boolean;
  askedAt: number;
}
