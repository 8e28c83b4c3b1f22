import type { Dispatcher } from 'undici';
import { streamDashScope, type DashScopeFrame } from './sse.js';

/**
 * What the two clients of DashScope's native text-generation endpoint share: qwen-deep-research (qwen.ts) and
 * the chat model that answers follow-up questions (followup-model.ts). Both POST the same envelope
 * (`{model, input: {messages}, parameters}`) with `X-DashScope-SSE: enable` and read the same frames
 * (reference/dashscope.md §1, §3b); sse.ts does the transport, the retries before the first frame and the error
 * mapping.
 */
export const GENERATION_PATH = '/api/v1/services/aigc/text-generation/generation';

export interface GenerationClientOptions {
  /** `https://dashscope.aliyuncs.com` (Beijing) or a local fake. */
  baseUrl: string;
  apiKey: string;
  model: string;
  /** No bytes for this long ends the request with `timeout` (keep-alive frames count as bytes). */
  idleTimeoutMs: number;
  /** Attempts after the first, made only before the first frame arrived (default 3). */
  retries?: number;
  /** The first backoff between attempts (default 1 s); each further one doubles it, with jitter. */
  retryBaseMs?: number;
  dispatcher?: Dispatcher;
}

export function generationUrl(baseUrl: string): string {
  return new URL(GENERATION_PATH, baseUrl).toString();
}

/** POSTs one streaming generation request and yields its frames; errors are ResearchErrors (see sse.ts). */
export function streamGeneration(
  opts: GenerationClientOptions,
  body: Record<string, unknown>,
  signal?: AbortSignal,
): AsyncGenerator<DashScopeFrame> {
  return streamDashScope({
    url: generationUrl(opts.baseUrl),
    apiKey: opts.apiKey,
    body,
    signal,
    idleTimeoutMs: opts.idleTimeoutMs,
    retries: opts.retries,
    retryBaseMs: opts.retryBaseMs,
    dispatcher: opts.dispatcher,
  });
}
