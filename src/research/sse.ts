import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { request, type Dispatcher } from 'undici';
import { dashScopeError, toResearchError } from './errors.js';
import { ResearchError, type ResearchErrorCode } from '../core/ports/research.js';

export interface DashScopeFrame {
  id?: string;
  event?: string;
  /** The status from the `:HTTP_STATUS/NNN` comment before this frame, when there was one. */
  status?: number;
  json: Record<string, unknown>;
}

export interface StreamOptions {
  url: string;
  apiKey: string;
  body: unknown;
  signal?: AbortSignal;
  /** No bytes for this long ends the run with `timeout` (keep-alive frames count as bytes). */
  idleTimeoutMs: number;
  /** Attempts after the first, made only before the first frame arrived (default 3). */
  retries?: number;
  /** The first backoff; each further one doubles it, with jitter (default 1 s). */
  retryBaseMs?: number;
  dispatcher?: Dispatcher;
}

const RETRY_BEFORE_OUTPUT: ReadonlySet<ResearchErrorCode> = new Set(['rate_limited', 'unavailable', 'network']);
const MAX_ERROR_BODY = 64 * 1024;

/**
 * POSTs a DashScope streaming request and yields its frames. Errors in all three shapes (non-2xx JSON,
 * non-2xx SSE, HTTP 200 with an `event:error` frame or a frame with an error `code`) become one ResearchError.
 * Throttling, 5xx and network errors are retried with jittered backoff, but only before the first frame:
 * once output has started a retry would re-run (and re-bill) the whole research.
 */
export async function* streamDashScope(opts: StreamOptions): AsyncGenerator<DashScopeFrame> {
  for (let attempt = 0; ; attempt++) {
    let started = false;
    try {
      for await (const frame of streamOnce(opts)) {
        started = true;
        yield frame;
      }
      return;
    } catch (err) {
      let error = toResearchError(err, opts.signal);
      if (started && error.code === 'network') {
        error = new ResearchError('truncated', 'The connection to DashScope closed before the research finished.', { cause: err });
      }
      if (started || attempt >= (opts.retries ?? 3) || !RETRY_BEFORE_OUTPUT.has(error.code) || opts.signal?.aborted) throw error;
      await sleep(backoff(opts.retryBaseMs ?? 1000, attempt), opts.signal);
    }
  }
}

function backoff(baseMs: number, attempt: number): number {
  return baseMs * 2 ** attempt * (0.5 + Math.random());
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ResearchError('cancelled', 'The research was cancelled.'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function* streamOnce(opts: StreamOptions): AsyncGenerator<DashScopeFrame> {
  const res = await request(opts.url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${opts.apiKey}`,
      'content-type': 'application/json',
      accept: 'text/event-stream',
      'x-dashscope-sse': 'enable',
      'x-accel-buffering': 'no',
    },
    body: JSON.stringify(opts.body),
    signal: opts.signal,
    headersTimeout: opts.idleTimeoutMs,
    bodyTimeout: opts.idleTimeoutMs,
    dispatcher: opts.dispatcher,
  });
  if (res.statusCode < 200 || res.statusCode >= 300) {
    throw await httpError(res.statusCode, String(res.headers['content-type'] ?? ''), res.body);
  }

  const decoder = new FrameDecoder();
  for await (const chunk of res.body) yield* checked(decoder.push(chunk as Uint8Array));
  yield* checked(decoder.end());
}

/** Bytes → DashScope frames. Pure, so it can be fed a capture split at any byte offset. */
export class FrameDecoder {
  private readonly text = new TextDecoder();
  private pending: DashScopeFrame[] = [];
  private status: number | undefined;
  private readonly parser = createParser({
    onComment: (comment) => {
      const m = /^HTTP_STATUS\/(\d{3})/.exec(comment.trim());
      if (m) this.status = Number(m[1]);
    },
    onEvent: (msg) => {
      const frame = toFrame(msg, this.status);
      this.status = undefined;
      if (frame) this.pending.push(frame);
    },
  });

  push(chunk: Uint8Array): DashScopeFrame[] {
    this.parser.feed(this.text.decode(chunk, { stream: true }));
    return this.take();
  }

  /** The end of the body: a final frame without its terminating blank line is dispatched by feeding one. */
  end(): DashScopeFrame[] {
    this.parser.feed(this.text.decode() + '\n\n');
    return this.take();
  }

  private take(): DashScopeFrame[] {
    const frames = this.pending;
    this.pending = [];
    return frames;
  }
}

function* checked(frames: DashScopeFrame[]): Generator<DashScopeFrame> {
  for (const frame of frames) {
    if (isErrorFrame(frame)) {
      throw dashScopeError(frame.status, frame.json, 'DashScope reported an error in the stream.');
    }
    yield frame;
  }
}

function toFrame(msg: EventSourceMessage, status: number | undefined): DashScopeFrame | undefined {
  let json: unknown;
  try {
    json = JSON.parse(msg.data);
  } catch {
    return undefined; // not a JSON frame (nothing DashScope documents); nothing to map
  }
  if (json === null || typeof json !== 'object') return undefined;
  return { id: msg.id, event: msg.event, status, json: json as Record<string, unknown> };
}

function isErrorFrame(frame: DashScopeFrame): boolean {
  if (frame.event === 'error') return true;
  const code = frame.json.code;
  // qwen frames carry no `code`; deep-search-agent frames carry "200" on success.
  return typeof code === 'string' && code !== '' && code !== '200';
}

async function httpError(statusCode: number, contentType: string, body: Dispatcher.ResponseData['body']): Promise<ResearchError> {
  let text = '';
  for await (const chunk of body) {
    if (text.length < MAX_ERROR_BODY) text += Buffer.from(chunk as Uint8Array).toString('utf8');
  }
  let parsed: Record<string, unknown> | undefined;
  if (contentType.includes('text/event-stream')) {
    const parser = createParser({
      onEvent(msg) {
        parsed ??= safeJson(msg.data);
      },
    });
    parser.feed(text + '\n\n');
  } else {
    parsed = safeJson(text);
  }
  return dashScopeError(statusCode, parsed, `DashScope answered HTTP ${statusCode}.`);
}

function safeJson(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
