/** The contract between the DashScope clients and the rest of the bot. Knows nothing about chat. */

export interface ChatMessage {
  role: 'user' | 'assistant';
  content: string;
}

export type ReportFormat = 'detailed' | 'summary';

export interface ResearchRequest {
  /** step 1: [topic]; step 2: [topic, question, answer]. */
  messages: ChatMessage[];
  /** false skips the clarifying step (`enable_feedback: false`). */
  clarify: boolean;
  format: ReportFormat;
}

export interface WebSite {
  url: string;
  title: string;
  description: string;
}

export interface Reference {
  index: number;
  url: string;
  title: string;
  description: string;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

/** Where a run is: planning the research, searching the web, or writing the answer (question or report). */
export type ResearchPhase = 'planning' | 'searching' | 'writing';

export type ResearchEvent =
  | { type: 'phase'; phase: ResearchPhase }
  | { type: 'plan'; delta: string }
  | { type: 'round'; round: number }
  | { type: 'query'; round: number; delta: string }
  | { type: 'goal'; round: number; delta: string }
  /** Sites not seen before in this round (merged by URL). */
  | { type: 'sites'; round: number; sites: WebSite[] }
  | { type: 'learning'; round: number; key: string; delta: string }
  | { type: 'round-end'; round: number }
  | { type: 'keepalive' }
  | { type: 'answer'; delta: string }
  | { type: 'references'; references: Reference[] }
  | { type: 'usage'; usage: Usage }
  | { type: 'done'; requestId?: string; usage?: Usage };

export type ResearchErrorCode =
  | 'auth'
  | 'quota'
  | 'rate_limited'
  | 'content_blocked'
  | 'bad_request'
  | 'unavailable'
  | 'network'
  | 'timeout'
  | 'cancelled'
  | 'truncated';

/** Codes for which running the same request again later can succeed. */
export const RETRYABLE_CODES: ReadonlySet<ResearchErrorCode> = new Set([
  'rate_limited',
  'unavailable',
  'network',
  'timeout',
  'truncated',
]);

export class ResearchError extends Error {
  readonly code: ResearchErrorCode;
  readonly requestId?: string;
  readonly status?: number;
  /** DashScope's own error code, e.g. `Throttling.RateQuota`. */
  readonly upstreamCode?: string;

  constructor(
    code: ResearchErrorCode,
    message: string,
    extra: { requestId?: string; status?: number; upstreamCode?: string; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'ResearchError';
    this.code = code;
    this.requestId = extra.requestId;
    this.status = extra.status;
    this.upstreamCode = extra.upstreamCode;
  }

  get retryable(): boolean {
    return RETRYABLE_CODES.has(this.code);
  }
}

/** A research backend: one streaming run per call; cancelling the signal closes the connection. */
export interface ResearchBackend {
  readonly name: string;
  run(request: ResearchRequest, signal?: AbortSignal): AsyncIterable<ResearchEvent>;
}
