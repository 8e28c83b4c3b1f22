import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/** Requests per window for one method, per workspace (or per channel for chat.postMessage), as Slack's tiers. */
const LIMITS: Record<string, { max: number; windowMs: number; perChannel?: boolean }> = {
  'chat.update': { max: 50, windowMs: 60_000 },
  'chat.postMessage': { max: 30, windowMs: 30_000, perChannel: true },
  'files.getUploadURLExternal': { max: 100, windowMs: 60_000 },
  'files.completeUploadExternal': { max: 100, windowMs: 60_000 },
  'apps.connections.open': { max: 50, windowMs: 60_000 },
  'conversations.replies': { max: 50, windowMs: 60_000 },
};

export const BOT_USER = 'UBOT';
export const TEAM = 'T1';

export interface FakeMessage {
  channel: string;
  ts: string;
  thread_ts?: string;
  text: string;
  blocks: Record<string, unknown>[];
  /** Every version: the posted content then each update. */
  history: { text: string; blocks: Record<string, unknown>[] }[];
  /** Message metadata posted with it (`event_type`, `event_payload`). */
  metadata?: Record<string, unknown>;
}

export interface FakeFile {
  id: string;
  filename: string;
  title?: string;
  content: Buffer;
  channel?: string;
  thread_ts?: string;
}

type Answer = { status?: number; body: Record<string, unknown>; headers?: Record<string, string> };

export class FakeSlack {
  readonly calls: { method: string; args: Record<string, unknown>; at: number }[] = [];
  readonly messages = new Map<string, FakeMessage>();
  readonly files: FakeFile[] = [];
  /** 429s sent, by method. */
  readonly rateLimited: Record<string, number> = {};
  /** Every call Slack refused, with its error. */
  readonly refused: { method: string; error: string }[] = [];
  /** Methods whose calls are received and never answered. */
  readonly hanging = new Set<string>();
  /** Calls that are carried out but never answered, chosen by this predicate. */
  stallAfter: ((method: string, args: Record<string, unknown>) => boolean) | undefined;
  readonly stalled: { method: string; args: Record<string, unknown> }[] = [];
  /** Errors the next calls of a method get, in order. */
  readonly failures: { method: string; answer: Answer }[] = [];
  private readonly hits = new Map<string, number[]>();
  private readonly uploads = new Map<string, { filename: string; content?: Buffer }>();
  /** Files people attached to their messages, downloadable with the bot token. */
  readonly userFiles = new Map<string, { name: string; content: Buffer; serve?: (res: ServerResponse) => void }>();
  /** GETs of attached files, authorised or not. */
  fileRequests = 0;
  botToken = 'xoxb-test';
  private server: Server | undefined;
  private wss: WebSocketServer | undefined;
  private socket: WebSocket | undefined;
  private readonly acks = new Map<string, () => void>();
  private clock = 1_760_000_000;
  private seq = 0;

  constructor(readonly signingSecret = 'fake-signing-secret') {}

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  get apiUrl(): string {
    return `${this.url}/api/`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.route(req, res));
    this.wss = new WebSocketServer({ server: this.server, path: '/socket' });
    this.wss.on('connection', (ws) => {
      this.socket = ws;
      ws.on('message', (data) => {
        const msg = JSON.parse(String(data)) as { envelope_id?: string };
        if (msg.envelope_id) this.acks.get(msg.envelope_id)?.();
      });
      ws.send(JSON.stringify({ type: 'hello', num_connections: 1, connection_info: { app_id: 'A1' } }));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async close(): Promise<void> {
    for (const c of this.wss?.clients ?? []) c.terminate();
    this.wss?.close();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  fail(method: string, error: string, status = 200, headers?: Record<string, string>): this {
    this.failures.push({ method, answer: { status, body: { ok: false, error }, headers } });
    return this;
  }

  callsOf(method: string) {
    return this.calls.filter((c) => c.method === method);
  }

  /** Bot messages in a thread, in order. */
  thread(channel: string, threadTs: string): FakeMessage[] {
    return [...this.messages.values()].filter((m) => m.channel === channel && m.thread_ts === threadTs);
  }

  /** The most chat.update calls within any 60 s window. */
  peakUpdatesPerMinute(): number {
    const at = this.callsOf('chat.update').map((c) => c.at);
    let peak = 0;
    for (let i = 0, j = 0; j < at.length; j++) {
      while (at[j]! - at[i]! >= 60_000) i++;
      peak = Math.max(peak, j - i + 1);
    }
    return peak;
  }

  // ---- Events API and interactivity into the bot's HTTP endpoint, signed as Slack signs them ----

  eventBody(event: Record<string, unknown>): Record<string, unknown> {
    return {
      token: 'legacy',
      team_id: TEAM,
      api_app_id: 'A1',
      type: 'event_callback',
      event_id: `Ev${++this.seq}`,
      event_time: Math.floor(Date.now() / 1000),
      event: { event_ts: event.ts, ...event },
      authorizations: [{ team_id: TEAM, user_id: BOT_USER, is_bot: true }],
    };
  }

  async deliver(endpoint: string, body: string, contentType: string, extraHeaders: Record<string, string> = {}): Promise<{ status: number; ms: number }> {
    const ts = Math.floor(Date.now() / 1000);
    const signature = `v0=${createHmac('sha256', this.signingSecret).update(`v0:${ts}:${body}`).digest('hex')}`;
    const started = performance.now();
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': contentType, 'x-slack-request-timestamp': String(ts), 'x-slack-signature': signature, ...extraHeaders },
      body,
    });
    await res.text();
    return { status: res.status, ms: performance.now() - started };
  }

  sendEvent(endpoint: string, event: Record<string, unknown>, retryNum?: number) {
    const headers: Record<string, string> = retryNum ? { 'x-slack-retry-num': String(retryNum), 'x-slack-retry-reason': 'http_timeout' } : {};
    return this.deliver(endpoint, JSON.stringify(this.eventBody(event)), 'application/json', headers);
  }

  sendAction(endpoint: string, payload: Record<string, unknown>) {
    return this.deliver(endpoint, `payload=${encodeURIComponent(JSON.stringify(payload))}`, 'application/x-www-form-urlencoded');
  }

  /** A block_actions payload as Slack sends it when a person presses one of the bot's buttons. */
  buttonPayload(message: FakeMessage, actionId: string, user: string): Record<string, unknown> {
    const value = message.blocks
      .flatMap((b) => (b.type === 'actions' ? (b.elements as { action_id: string; value: string }[]) : []))
      .find((e) => e.action_id === actionId)?.value;
    if (value === undefined) throw new Error(`no button ${actionId} on message ${message.ts}`);
    return {
      type: 'block_actions',
      user: { id: user, team_id: TEAM },
      team: { id: TEAM },
      api_app_id: 'A1',
      token: 'legacy',
      trigger_id: `trig${++this.seq}`,
      channel: { id: message.channel },
      container: { type: 'message', message_ts: message.ts, channel_id: message.channel },
      message: { ts: message.ts, text: message.text, blocks: message.blocks },
      actions: [{ type: 'button', action_id: actionId, block_id: 'b', value, action_ts: `${Date.now() / 1000}` }],
    };
  }

  /** Socket Mode: pushes an envelope to the connected app and waits for its ack. */
  async sendEnvelope(type: 'events_api' | 'interactive', payload: Record<string, unknown>): Promise<number> {
    if (!this.socket) throw new Error('no Socket Mode connection');
    const envelopeId = randomUUID();
    const started = performance.now();
    const acked = new Promise<void>((resolve) => this.acks.set(envelopeId, resolve));
    this.socket.send(JSON.stringify({ envelope_id: envelopeId, type, payload, accepts_response_payload: type !== 'events_api', retry_attempt: 0, retry_reason: '' }));
    await acked;
    return performance.now() - started;
  }

  get socketConnected(): boolean {
    return this.socket !== undefined && this.socket.readyState === this.socket.OPEN;
  }

  /**
   * A file a person attaches; returns the `files[]` entry of the message event. `size` declares another size
   * than the content's, and `serve` answers an authorised download instead of sending `content`.
   */
  userFile(name: string, content: Buffer, opts: { size?: number; serve?: (res: ServerResponse) => void } = {}): Record<string, unknown> {
    const id = `F${++this.seq}`;
    this.userFiles.set(id, { name, content, serve: opts.serve });
    return { id, name, title: name, size: opts.size ?? content.length, mimetype: 'application/octet-stream', url_private_download: `${this.url}/files-pri/${id}/${encodeURIComponent(name)}` };
  }

  // ---- Web API ----

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', this.url);
    const shared = /^\/files-pri\/([^/]+)\//.exec(url.pathname);
    if (req.method === 'GET' && shared) {
      this.fileRequests++;
      const file = this.userFiles.get(shared[1]!);
      // Slack answers a missing or wrong token with its login page, not the file.
      if (!file || req.headers.authorization !== `Bearer ${this.botToken}`) return void res.writeHead(302, { location: `${this.url}/login` }).end();
      if (file.serve) return file.serve(res);
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(file.content);
      return;
    }
    if (url.pathname.startsWith('/upload/')) {
      const upload = this.uploads.get(url.pathname.slice('/upload/'.length));
      if (!upload) return send(res, { status: 404, body: { ok: false } });
      upload.content = raw;
      res.writeHead(200, { 'content-type': 'text/plain' }).end('OK - 200');
      return;
    }
    const method = url.pathname.replace(/^\/api\//, '');
    const args = parseArgs(raw, String(req.headers['content-type'] ?? ''));
    this.calls.push({ method, args, at: Date.now() });
    // Bot tokens for the Web API; the app-level token only opens Socket Mode connections.
    const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '') || String(args.token ?? '');
    if (!(method === 'apps.connections.open' ? token.startsWith('xapp-') : /^xox[bp]-/.test(token))) {
      return send(res, { body: { ok: false, error: 'not_authed' } });
    }
    // A method that never answers, as a hung Slack call looks to the client.
    if (this.hanging.has(method)) return;
    const limited = this.rateLimit(method, String(args.channel ?? ''));
    if (limited) {
      this.refused.push({ method, error: 'ratelimited' });
      return send(res, limited);
    }
    const i = this.failures.findIndex((f) => f.method === method);
    const answer = i >= 0 ? this.failures.splice(i, 1)[0]!.answer : this.answer(method, args);
    if (answer.body.ok === false) this.refused.push({ method, error: String(answer.body.error) });
    // Done, but the answer never leaves: what a client sees when it dies while its request is in flight.
    if (this.stallAfter?.(method, args)) return void this.stalled.push({ method, args });
    send(res, answer);
  }

  private rateLimit(method: string, channel: string): Answer | undefined {
    const limit = LIMITS[method];
    if (!limit) return undefined;
    const key = limit.perChannel ? `${method}:${channel}` : method;
    const now = Date.now();
    const hits = (this.hits.get(key) ?? []).filter((t) => now - t < limit.windowMs);
    if (hits.length >= limit.max) {
      this.rateLimited[method] = (this.rateLimited[method] ?? 0) + 1;
      const retryAfter = Math.max(1, Math.ceil((limit.windowMs - (now - hits[0]!)) / 1000));
      this.hits.set(key, hits);
      return { status: 429, headers: { 'retry-after': String(retryAfter) }, body: { ok: false, error: 'ratelimited' } };
    }
    hits.push(now);
    this.hits.set(key, hits);
    return undefined;
  }

  private answer(method: string, a: Record<string, unknown>): Answer {
    switch (method) {
      case 'auth.test':
        return { body: { ok: true, url: 'https://fake.slack.com/', team: 'Fake', user: 'deep-research', team_id: TEAM, user_id: BOT_USER, bot_id: 'BBOT' } };
      case 'apps.connections.open':
        return { body: { ok: true, url: `${this.url.replace('http', 'ws')}/socket` } };
      case 'chat.postMessage': {
        const problem = validateMessage(a);
        if (problem) return { body: { ok: false, error: problem } };
        if (!a.channel) return { body: { ok: false, error: 'channel_not_found' } };
        const ts = `${++this.clock}.000${String(++this.seq).padStart(3, '0')}`;
        const m: FakeMessage = { channel: String(a.channel), ts, thread_ts: a.thread_ts ? String(a.thread_ts) : undefined, text: String(a.text ?? ''), blocks: blocksOf(a), history: [] };
        if (a.metadata) m.metadata = (typeof a.metadata === 'string' ? JSON.parse(a.metadata) : a.metadata) as Record<string, unknown>;
        m.history.push({ text: m.text, blocks: m.blocks });
        this.messages.set(`${m.channel}:${ts}`, m);
        return { body: { ok: true, channel: m.channel, ts, message: { type: 'message', user: BOT_USER, bot_id: 'BBOT', text: m.text, ts } } };
      }
      case 'conversations.replies': {
        // The bot's messages in the thread, oldest first; metadata only when asked for, as Slack does.
        const withMeta = String(a.include_all_metadata) === 'true';
        const replies = this.thread(String(a.channel), String(a.ts)).map((m) => ({
          type: 'message',
          user: BOT_USER,
          bot_id: 'BBOT',
          ts: m.ts,
          thread_ts: m.thread_ts,
          text: m.text,
          ...(withMeta && m.metadata ? { metadata: m.metadata } : {}),
        }));
        return { body: { ok: true, messages: replies, has_more: false } };
      }
      case 'chat.update': {
        const m = this.messages.get(`${a.channel}:${a.ts}`);
        if (!m) return { body: { ok: false, error: 'message_not_found' } };
        const problem = validateMessage(a);
        if (problem) return { body: { ok: false, error: problem } };
        m.text = String(a.text ?? '');
        m.blocks = blocksOf(a);
        m.history.push({ text: m.text, blocks: m.blocks });
        return { body: { ok: true, channel: m.channel, ts: m.ts, text: m.text } };
      }
      case 'assistant.threads.setStatus':
        return { body: { ok: true } };
      case 'files.getUploadURLExternal': {
        const id = `F${++this.seq}`;
        this.uploads.set(id, { filename: String(a.filename) });
        return { body: { ok: true, upload_url: `${this.url}/upload/${id}`, file_id: id } };
      }
      case 'files.completeUploadExternal': {
        const files = (typeof a.files === 'string' ? JSON.parse(a.files) : a.files) as { id: string; title?: string }[];
        for (const f of files) {
          const upload = this.uploads.get(f.id);
          if (!upload?.content) return { body: { ok: false, error: 'file_not_found' } };
          this.files.push({ id: f.id, filename: upload.filename, title: f.title, content: upload.content, channel: a.channel_id as string, thread_ts: a.thread_ts as string });
        }
        return { body: { ok: true, files: files.map((f) => ({ id: f.id, title: f.title })) } };
      }
      default:
        return { body: { ok: false, error: 'unknown_method' } };
    }
  }
}

/** Slack's message limits: text ≤ 4,000; ≤ 50 blocks; section text ≤ 3,000; markdown blocks ≤ 12,000 in all. */
function validateMessage(a: Record<string, unknown>): string | undefined {
  const text = String(a.text ?? '');
  const blocks = blocksOf(a);
  if (!text && blocks.length === 0) return 'no_text';
  if (text.length > 4000) return 'msg_too_long';
  if (blocks.length > 50) return 'invalid_blocks';
  let markdown = 0;
  for (const b of blocks) {
    if (b.type === 'markdown') markdown += String(b.text ?? '').length;
    else if (b.type === 'section') {
      const t = (b.text as { text?: string } | undefined)?.text ?? '';
      if (!t || t.length > 3000) return 'invalid_blocks';
    } else if (b.type === 'context') {
      const els = b.elements as { text?: string }[];
      if (!els?.length || els.length > 10 || els.some((e) => (e.text ?? '').length > 3000)) return 'invalid_blocks';
    } else if (b.type === 'actions') {
      const els = b.elements as { text?: { text?: string }; value?: string }[];
      if (!els?.length || els.length > 25 || els.some((e) => (e.text?.text ?? '').length > 75 || (e.value ?? '').length > 2000)) return 'invalid_blocks';
    } else return 'invalid_blocks';
  }
  if (markdown > 12_000) return 'msg_blocks_too_long';
  return undefined;
}

function blocksOf(a: Record<string, unknown>): Record<string, unknown>[] {
  if (!a.blocks) return [];
  return (typeof a.blocks === 'string' ? JSON.parse(a.blocks) : a.blocks) as Record<string, unknown>[];
}

function parseArgs(raw: Buffer, contentType: string): Record<string, unknown> {
  const text = raw.toString('utf8');
  if (contentType.includes('application/json')) return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  return Object.fromEntries(new URLSearchParams(text));
}

function send(res: ServerResponse, a: Answer): void {
  res.writeHead(a.status ?? 200, { 'content-type': 'application/json', ...a.headers }).end(JSON.stringify(a.body));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts);
}
