import { serving } from './serving.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CHAT_REQUEST_ID, chatFrames, FakeChatModel, invalidChatMessages, isDeepResearchModel } from './dashscope-chat.js';
import { AGENT_BASE, AGENT_REQUEST_ID, AgentFiles, agentQuestionFrames, agentReport, agentResearchFrames, agentSse } from './dashscope-agent.js';
import { clarifyFrames, defaultScript, invalidImages, REQUEST_ID, researchFrames, snapshotResearchFrames, SNAPSHOT_MODEL, sseFrame, type RecordedContent, type ResearchScript } from './dashscope-script.js';

export type { RecordedContent };

/** What the fake does with one request. Requests take behaviours from the queue in order; then `ok`. */
export type Behaviour =
  | { kind: 'ok' }
  /** Non-2xx with a JSON body (`sse: true`: with an SSE body instead). */
  | { kind: 'http-error'; status: number; code: string; message: string; sse?: boolean; retryAfter?: number }
  /** HTTP 200, then an `event:error` frame after `afterFrames` result frames. */
  | { kind: 'error-frame'; afterFrames: number; status: number; code: string; message: string }
  /** Closes the socket after `afterFrames` frames. */
  | { kind: 'drop'; afterFrames: number }
  /** Sends `afterFrames` frames, then nothing until the client gives up. */
  | { kind: 'stall'; afterFrames: number };

/** A message's content: a string, or (qwen-deep-research with images) `{image}` items and a `{text}` item. */

export interface RecordedRequest {
  path: string;
  headers: IncomingMessage['headers'];
  /** As sent: `parameters` holds `research_tools`, `enable_feedback`, `max_tokens`, … */
  body: { model?: string; input?: { messages?: { role: string; content: RecordedContent }[] }; parameters?: Record<string, unknown> };
  /** How the response ended: sent whole, or cut because the client went away (a killed process, a cancel). */
  outcome?: 'completed' | 'cut';
}

/** Streams open now and the most ever open at once, streams the client closed early, and finished streams. */
export interface StreamStats {
  open: number;
  maxOpen: number;
  clientAborts: number;
  readonly streams: { start: number; end: number }[];
}

export interface FakeDashScopeOptions {
  /** Delay between frames, in ms (0: as fast as possible). */
  frameDelayMs?: number;
  question?: string;
  script?: Partial<ResearchScript>;
  /** When set, only this key is accepted. */
  apiKey?: string;
}

/** A line only the agent's downloadable report file has, so tests can tell it from the streamed text. */
export const REPORT_FILE_MARK = '_Exported by the deep-search agent._';

export const THROTTLE = { kind: 'http-error', status: 429, code: 'Throttling', message: 'Requests throttling triggered.' } as const;

/**
 * Fake DashScope on 127.0.0.1. Deep research (`qwen-deep-research*` models) and the deep-search agent are recorded
 * in `requests`, scripted through `behaviours`, `script`, `question`; their streams count in `open`, `clientAborts`.
 * Any other model on the generation endpoint is the chat model for follow-up questions: `chat` records its
 * requests and counts its streams apart, and is scripted per request with `chat.enqueue({answer, usage, fault,
 * delayMs, finish})`.
 */
export class FakeDashScope implements StreamStats {
  readonly requests: RecordedRequest[] = [];
  /** The chat model: its requests, scripts and streams. */
  readonly chat = new FakeChatModel();
  readonly behaviours: Behaviour[] = [];
  /** Streams open right now, and the most ever open at once. */
  open = 0;
  maxOpen = 0;
  /** Streams the client closed before the end. */
  clientAborts = 0;
  frameDelayMs: number;
  question: string;
  script: ResearchScript;
  /** Start and end (performance.now) of every stream that ran to its end. */
  readonly streams: { start: number; end: number }[] = [];
  /** deep-search-agent: whether step 1 gets a question (true) or a report at once. */
  agentAsks = true;
  agentReport = agentReport();
  readonly agent = new AgentFiles(() => this.url);
  private server: Server | undefined;
  private readonly sockets = new Set<import('node:net').Socket>();
  private readonly gates: (() => void)[] = [];
  private paused = false;

  constructor(private readonly options: FakeDashScopeOptions = {}) {
    this.frameDelayMs = options.frameDelayMs ?? 0;
    this.question = options.question ?? 'Which aspects matter most to you: 1. techniques 2. case studies 3. risks?';
    this.script = defaultScript(options.script);
  }

  get url(): string {
    const addr = this.server?.address() as AddressInfo | undefined;
    if (!addr) throw new Error('fake DashScope is not listening');
    return `http://127.0.0.1:${addr.port}`;
  }

  enqueue(...behaviours: Behaviour[]): this {
    this.behaviours.push(...behaviours);
    return this;
  }

  /** Holds every stream before its next frame until `resume()`. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    for (const release of this.gates.splice(0)) release();
  }

  async start(port = 0): Promise<this> {
    this.server = createServer(serving((req, res) => this.handle(req, res)));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    return this;
  }

  async close(): Promise<void> {
    this.resume();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    if (this.agent.serveStorage(req, res, raw)) return;
    let body: RecordedRequest['body'] = {};
    try {
      body = JSON.parse(raw.toString('utf8')) as RecordedRequest['body'];
    } catch {
      return sendJson(res, 400, { code: 'InvalidParameter', message: 'Request body is not valid JSON.', request_id: REQUEST_ID });
    }
    const recorded: RecordedRequest = { path: req.url ?? '', headers: req.headers, body };
    const chat = req.url === GENERATION && typeof body.model === 'string' && !isDeepResearchModel(body.model);
    (chat ? this.chat.requests : this.requests).push(recorded);
    res.on('close', () => (recorded.outcome = res.writableFinished ? 'completed' : 'cut'));
    const auth = req.headers.authorization ?? '';
    const key = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!key || (this.options.apiKey !== undefined && key !== this.options.apiKey)) {
      return sendJson(res, 401, { code: 'InvalidApiKey', message: 'Invalid API-key provided.', request_id: REQUEST_ID });
    }
    if (req.method === 'POST' && chat) return this.chatModel(res, body);
    if (req.method === 'POST' && req.url === GENERATION) return this.qwen(res, body);
    if (req.method === 'POST' && req.url === `${AGENT_BASE}/chat/completions`) return this.agentChat(res, body);
    if (req.method === 'POST' && req.url?.startsWith(`${AGENT_BASE}/file/`)) {
      const answer = this.agent.fileApi(req.url.slice(AGENT_BASE.length), (body as { input?: Record<string, unknown> }).input ?? {});
      return sendJson(res, answer.status, answer.body);
    }
    return sendJson(res, 404, { code: 'NotFound', message: `No route for ${req.method} ${req.url}`, request_id: REQUEST_ID });
  }

  private async qwen(res: ServerResponse, body: RecordedRequest['body']): Promise<void> {
    const messages = body.input?.messages ?? [];
    if (!body.model || messages.length === 0 || messages.some((m) => !m.content)) {
      return sendJson(res, 400, {
        code: 'InvalidParameter',
        message: 'Role must be user or assistant and Content length must be greater than 0',
        request_id: REQUEST_ID,
      });
    }
    const badImages = invalidImages(messages);
    if (badImages) return sendJson(res, 400, { code: 'InvalidParameter', message: badImages, request_id: REQUEST_ID });
    const behaviour = this.behaviours.shift() ?? { kind: 'ok' };
    if (behaviour.kind === 'http-error') return this.httpError(res, behaviour);
    const clarify = messages.length === 1 && body.parameters?.enable_feedback !== false;
    // The request's model picks the research frames: the snapshot model streams its rounds as `streamingThinking`.
    const frames = clarify ? clarifyFrames(this.question) : body.model === SNAPSHOT_MODEL ? snapshotResearchFrames(this.script) : researchFrames(this.script);
    await this.stream(res, frames, behaviour, qwenSse, qwenError(REQUEST_ID));
  }

  /** The chat model (follow-up questions): the recorded message-format stream, or the turn's fault. */
  private async chatModel(res: ServerResponse, body: RecordedRequest['body']): Promise<void> {
    const turn = this.chat.next();
    if (turn.delayMs) await delay(turn.delayMs);
    const invalid = invalidChatMessages(body.input?.messages);
    if (invalid) return sendJson(res, 400, { code: 'InvalidParameter', message: invalid, request_id: CHAT_REQUEST_ID });
    const behaviour = turn.fault ?? { kind: 'ok' };
    if (behaviour.kind === 'http-error') return this.httpError(res, behaviour, CHAT_REQUEST_ID);
    const inputChars = (body.input?.messages ?? []).reduce((n, m) => n + String(m.content).length, 0);
    const frames = chatFrames(turn, this.chat, body.parameters ?? {}, inputChars);
    await this.stream(res, frames, behaviour, qwenSse, qwenError(CHAT_REQUEST_ID), this.chat);
  }

  private async agentChat(res: ServerResponse, body: RecordedRequest['body'] & { stream?: boolean }): Promise<void> {
    const messages = body.input?.messages ?? [];
    const options = (body.parameters?.agent_options ?? {}) as { agent_id?: string; session_files?: unknown };
    if (body.stream !== true) return sendJson(res, 400, { code: 'InvalidParameter', message: 'stream must be true', request_id: AGENT_REQUEST_ID });
    if (!options.agent_id || messages.length === 0) {
      return sendJson(res, 400, { code: 'InvalidParameter', message: 'agent_id and messages are required', request_id: AGENT_REQUEST_ID });
    }
    if (options.session_files !== undefined && !this.agent.ready(options.session_files)) {
      return sendJson(res, 400, { code: 'InvalidParameter', message: 'session file is not ready', request_id: AGENT_REQUEST_ID });
    }
    const behaviour = this.behaviours.shift() ?? { kind: 'ok' };
    if (behaviour.kind === 'http-error') return this.httpError(res, behaviour);
    const asks = messages.length === 1 && this.agentAsks;
    const frames = asks ? agentQuestionFrames(this.question) : agentResearchFrames(this.script, this.agentReport, this.agent.publish(`${this.agentReport}\n\n${REPORT_FILE_MARK}\n`));
    await this.stream(res, frames, behaviour, (_i, f) => agentSse(f), (b) => agentSse({ code: b.code, message: b.message, request_id: AGENT_REQUEST_ID }));
  }

  /** Writes frames with the configured delay, pause and behaviour (error frame, drop, stall). */
  private async stream(
    res: ServerResponse,
    frames: Record<string, unknown>[],
    behaviour: Exclude<Behaviour, { kind: 'http-error' }>,
    encode: (i: number, frame: Record<string, unknown>) => string,
    errorFrame: (b: Extract<Behaviour, { kind: 'error-frame' }>, i: number) => string,
    stats: StreamStats & { frameDelayMs: number } = this,
  ): Promise<void> {
    const requestId = stats === this ? REQUEST_ID : CHAT_REQUEST_ID;
    res.writeHead(200, {
      'content-type': 'text/event-stream;charset=UTF-8',
      'x-request-id': requestId,
      'x-dashscope-requestid': requestId,
    });
    stats.open++;
    stats.maxOpen = Math.max(stats.maxOpen, stats.open);
    let clientGone = false;
    res.on('close', () => {
      stats.open--;
      if (!res.writableFinished) {
        clientGone = true;
        stats.clientAborts++;
      }
    });
    const limit = behaviour.kind === 'ok' ? frames.length : Math.min(behaviour.afterFrames, frames.length);
    const start = performance.now();
    for (let i = 0; i < limit && !clientGone; i++) {
      if (this.paused && stats === this) await new Promise<void>((resolve) => this.gates.push(resolve));
      if (stats.frameDelayMs > 0) await delay(stats.frameDelayMs);
      // qwen: frames separated by a blank line, the last one ending with a single newline, as in the captures.
      res.write(encode(i, frames[i]!));
    }
    if (clientGone) return;
    if (behaviour.kind === 'ok') {
      res.end(() => stats.streams.push({ start, end: performance.now() }));
      return;
    }
    if (behaviour.kind === 'error-frame') {
      res.end(errorFrame(behaviour, limit));
    } else if (behaviour.kind === 'drop') {
      // Let the frames already written reach the client, then cut the connection mid-stream.
      await delay(30);
      res.socket?.destroy();
    }
    // stall: keep the connection open and silent; the client's idle timeout ends it.
  }

  private httpError(res: ServerResponse, b: Extract<Behaviour, { kind: 'http-error' }>, requestId = REQUEST_ID): void {
    const data = { code: b.code, message: b.message, request_id: requestId };
    const headers: Record<string, string> = b.retryAfter ? { 'retry-after': String(b.retryAfter) } : {};
    if (b.sse) {
      res.writeHead(b.status, { ...headers, 'content-type': 'text/event-stream;charset=UTF-8' });
      res.end(sseFrame(1, data, 'error', b.status));
    } else {
      sendJson(res, b.status, data, headers);
    }
  }
}

const GENERATION = '/api/v1/services/aigc/text-generation/generation';

/** Native frames: separated by a blank line, the last one ending with a single newline, as in the captures. */
const qwenSse = (i: number, f: Record<string, unknown>) => (i > 0 ? '\n' : '') + sseFrame(i + 1, f);
const qwenError = (requestId: string) => (b: Extract<Behaviour, { kind: 'error-frame' }>, i: number) =>
  `\n${sseFrame(i + 1, { code: b.code, message: b.message, request_id: requestId }, 'error', b.status)}`;

function sendJson(res: ServerResponse, status: number, data: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'content-type': 'application/json' });
  res.end(JSON.stringify(data));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of req) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
