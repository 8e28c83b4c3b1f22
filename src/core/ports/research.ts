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
  /** Files the person attached (deep-search-agent: uploaded and passed as session_files). */
  files?: AttachedFile[];
  /** Images the person attached, for a backend that reads images: they go with the first user message. */
  images?: AttachedImage[];
  /** The chat or channel the request comes from, for settings an admin made per channel (research tools). */
  channel?: string;
}

export interface AttachedImage {
  name: string;
  /** `image/png`, `image/jpeg`, `image/bmp` or `image/webp`. */
  mime: string;
  data: Uint8Array;
}

/** What a backend that reads images accepts. */
export interface ImageLimits {
  maxImages: number;
  maxBytes: number;
  /** Media types it reads. */
  types: readonly string[];
}

export interface AttachedFile {
  name: string;
  data: Uint8Array;
}

/** A file the backend produced beside the report (the agent's HTML rendering). Text, so it can be stored. */
export interface ReportFile {
  name: string;
  contentType: string;
  content: string;
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
  | { type: 'files'; files: ReportFile[]; filePath?: string }
  /** `report`: the run wrote a report although it was asked to clarify (the agent needed no question). */
  | { type: 'done'; requestId?: string; usage?: Usage; report?: boolean };

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
  | 'truncated'
  /** An attached file was refused: too many, too large, or DashScope could not read it. */
  | 'file_rejected';

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
  /** Present when the backend reads attached files: how many and how large. Without it no file is downloaded. */
  readonly files?: { maxFiles: number; maxBytes: number };
  /** Present when the backend reads images (qwen-deep-research): which, how many and how large. */
  readonly images?: ImageLimits;
  run(request: ResearchRequest, signal?: AbortSignal): AsyncIterable<ResearchEvent>;
}
