import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { clarifyFrames, defaultScript, REQUEST_ID, researchFrames, sseFrame, type ResearchScript } from './dashscope-script.js';

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

export interface RecordedRequest {
  path: string;
  headers: IncomingMessage['headers'];
  body: { model?: string; input?: { messages?: { role: string; content: string }[] }; parameters?: Record<string, unknown> };
}

export interface FakeDashScopeOptions {
  /** Delay between frames, in ms (0: as fast as possible). */
  frameDelayMs?: number;
  question?: string;
  script?: Partial<ResearchScript>;
  /** When set, only this key is accepted. */
  apiKey?: string;
}

export const THROTTLE = { kind: 'http-error', status: 429, code: 'Throttling', message: 'Requests throttling triggered.' } as const;

export class FakeDashScope {
  readonly requests: RecordedRequest[] = [];
  readonly behaviours: Behaviour[] = [];
  /** Streams open right now, and the most ever open at once. */
  open = 0;
  maxOpen = 0;
  /** Streams the client closed before the end. */
  clientAborts = 0;
  frameDelayMs: number;
  question: string;
  script: ResearchScript;
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
    this.server = createServer((req, res) => void this.handle(req, res));
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
    let body: RecordedRequest['body'] = {};
    try {
      body = JSON.parse(raw) as RecordedRequest['body'];
    } catch {
      return sendJson(res, 400, { code: 'InvalidParameter', message: 'Request body is not valid JSON.', request_id: REQUEST_ID });
    }
    this.requests.push({ path: req.url ?? '', headers: req.headers, body });
    if (req.method !== 'POST' || req.url !== '/api/v1/services/aigc/text-generation/generation') {
      return sendJson(res, 404, { code: 'NotFound', message: `No route for ${req.method} ${req.url}`, request_id: REQUEST_ID });
    }
    const auth = req.headers.authorization ?? '';
    const key = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!key || (this.options.apiKey !== undefined && key !== this.options.apiKey)) {
      return sendJson(res, 401, { code: 'InvalidApiKey', message: 'Invalid API-key provided.', request_id: REQUEST_ID });
    }
    const messages = body.input?.messages ?? [];
    if (!body.model || messages.length === 0 || messages.some((m) => !m.content)) {
      return sendJson(res, 400, {
        code: 'InvalidParameter',
        message: 'Role must be user or assistant and Content length must be greater than 0',
        request_id: REQUEST_ID,
      });
    }
    const behaviour = this.behaviours.shift() ?? { kind: 'ok' };
    if (behaviour.kind === 'http-error') return this.httpError(res, behaviour);

    const clarify = messages.length === 1 && body.parameters?.enable_feedback !== false;
    const frames = clarify ? clarifyFrames(this.question) : researchFrames(this.script);
    res.writeHead(200, {
      'content-type': 'text/event-stream;charset=UTF-8',
      'x-request-id': REQUEST_ID,
      'x-dashscope-requestid': REQUEST_ID,
    });
    this.open++;
    this.maxOpen = Math.max(this.maxOpen, this.open);
    let clientGone = false;
    res.on('close', () => {
      this.open--;
      if (!res.writableFinished) {
        clientGone = true;
        this.clientAborts++;
      }
    });
    const limit = behaviour.kind === 'ok' ? frames.length : Math.min(behaviour.afterFrames, frames.length);
    for (let i = 0; i < limit && !clientGone; i++) {
      if (this.paused) await new Promise<void>((resolve) => this.gates.push(resolve));
      if (this.frameDelayMs > 0) await delay(this.frameDelayMs);
      // Frames are separated by a blank line; the last one ends with a single newline, as in the captures.
      res.write((i > 0 ? '\n' : '') + sseFrame(i + 1, frames[i]!));
    }
    if (clientGone) return;
    if (behaviour.kind === 'ok') return void res.end();
    if (behaviour.kind === 'error-frame') {
      const data = { code: behaviour.code, message: behaviour.message, request_id: REQUEST_ID };
      res.end(`\n${sseFrame(limit + 1, data, 'error', behaviour.status)}`);
    } else if (behaviour.kind === 'drop') {
      // Let the frames already written reach the client, then cut the connection mid-stream.
      await delay(30);
      res.socket?.destroy();
    }
    // stall: keep the connection open and silent; the client's idle timeout ends it.
  }

  private httpError(res: ServerResponse, b: Extract<Behaviour, { kind: 'http-error' }>): void {
    const data = { code: b.code, message: b.message, request_id: REQUEST_ID };
    const headers: Record<string, string> = b.retryAfter ? { 'retry-after': String(b.retryAfter) } : {};
    if (b.sse) {
      res.writeHead(b.status, { ...headers, 'content-type': 'text/event-stream;charset=UTF-8' });
      res.end(sseFrame(1, data, 'error', b.status));
    } else {
      sendJson(res, b.status, data, headers);
    }
  }
}

function sendJson(res: ServerResponse, status: number, data: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'content-type': 'application/json' });
  res.end(JSON.stringify(data));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of req) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
