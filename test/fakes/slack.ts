import { serving } from './serving.js';
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32, deflateSync } from 'node:zlib';
import { WebSocketServer, type WebSocket } from 'ws';

type Limit = { max: number; windowMs: number; perChannel?: boolean };

/** Requests per window for one method, per workspace (or per channel for chat.postMessage), as Slack's tiers. */
const LIMITS: Record<string, Limit> = {
  'chat.update': { max: 50, windowMs: 60_000 },
  // Message streaming: Tier 2 (20+ a minute) to start and stop a stream, Tier 4 (100+ a minute) to append.
  'chat.startStream': { max: 20, windowMs: 60_000 },
  'chat.stopStream': { max: 20, windowMs: 60_000 },
  'chat.appendStream': { max: 100, windowMs: 60_000 },
  'chat.postMessage': { max: 30, windowMs: 30_000, perChannel: true },
  'files.getUploadURLExternal': { max: 100, windowMs: 60_000 },
  'files.completeUploadExternal': { max: 100, windowMs: 60_000 },
  'apps.connections.open': { max: 50, windowMs: 60_000 },
  'conversations.replies': { max: 50, windowMs: 60_000 },
  // Canvases: Tier 2 to create, Tier 3 to set access; files.info is Tier 4.
  'canvases.create': { max: 20, windowMs: 60_000 },
  'canvases.access.set': { max: 50, windowMs: 60_000 },
  'files.info': { max: 100, windowMs: 60_000 },
  // "Special rate limits apply" (slack_kit chat.getPermalink.json), with no number: Tier 4's floor stands in for it.
  'chat.getPermalink': { max: 100, windowMs: 60_000 },
};

export const BOT_USER = 'UBOT';
export const TEAM = 'T1';
/** The workspace's address, as auth.test gives it; permalinks start with it. */
export const WORKSPACE_URL = 'https://fake.slack.com/';

const STREAM_METHODS = new Set(['chat.startStream', 'chat.appendStream', 'chat.stopStream']);
const TASK_STATUSES = new Set(['pending', 'in_progress', 'complete', 'error']);
/** Slack's per-call cap on streamed text (`markdown_text`), and on a task's or plan's text fields (observed ~256). */
const STREAM_CALL_TEXT_MAX = 12_000;
const STREAM_FIELD_MAX = 256;

export interface FakeTask {
  task_id: string;
  title: string;
  status: string;
  /** Appended by each update that carries details (as observed of Slack). */
  details: string;
  /** Appended likewise (an assumption: Slack does not document whether sources replace or append). */
  sources: { type: string; url: string; text: string }[];
}

/** A streamed message's state (chat.startStream / appendStream / stopStream). */
export interface FakeStream {
  state: 'streaming' | 'stopped' | 'expired' | 'stopped_by_user';
  startedAt: number;
  recipient_user_id?: string;
  recipient_team_id?: string;
  task_display_mode?: string;
  title?: string;
  tasks: Map<string, FakeTask>;
  /** All streamed text, in order. */
  markdown: string;
  /** The blocks chat.stopStream put at the bottom. */
  blocks: Record<string, unknown>[];
  /** A person pressed Stop: the next call answers stopped_by_user. */
  stopPressed: boolean;
}

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
  /** Set for a streamed message: `text` is then its streamed text and `blocks` its plan, text and final blocks. */
  stream?: FakeStream;
}

export interface FakeFile {
  id: string;
  filename: string;
  title?: string;
  content: Buffer;
  channel?: string;
  thread_ts?: string;
}

/** A canvas made with canvases.create: its Markdown as sent, and who was given access. */
export interface FakeCanvas {
  id: string;
  title?: string;
  markdown: string;
  /** The channel it is tabbed in (`channel_id`), if any. */
  channel_id?: string;
  /** Access by channel or user id: `read` or `write` (`owner` for a user). */
  access: Map<string, string>;
}

/**
 * What this workspace allows of canvases: `paid` (all), `free` (only canvases tabbed in a channel, one a channel:
 * `free_teams_cannot_create_non_tabbed_canvases`), `missing_scope` (the app lacks `canvases:write`), `disabled`
 * (canvases turned off: `canvas_disabled_user_team`).
 */
export type CanvasPlan = 'paid' | 'free' | 'missing_scope' | 'disabled';

/** Slack's cap on canvas Markdown (documented for channel canvases: 1 MiB). */
const CANVAS_MARKDOWN_MAX = 1_048_576;

type Answer = { status?: number; body: Record<string, unknown>; headers?: Record<string, string> };

export class FakeSlack {
  /** Every Web API call, with Slack's answer once given (`ok`, or the `error` it refused with). */
  readonly calls: { method: string; args: Record<string, unknown>; at: number; ok?: boolean; error?: string }[] = [];
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
  /** Calls that are carried out at once and answered only after the milliseconds this returns (0: at once). */
  slowAnswer: ((method: string, args: Record<string, unknown>) => number) | undefined;
  /** Errors the next calls of a method get, in order. */
  readonly failures: { method: string; answer: Answer }[] = [];
  /**
   * Whether this workspace has message streaming. Off, the streaming methods answer `unknown_method` (as in GovSlack,
   * and as this fake always did), recorded in `unsupported` rather than `refused`: asking is how a bot finds out.
   */
  streaming = false;
  /** Streaming calls answered `unknown_method` because `streaming` is off. */
  readonly unsupported: string[] = [];
  /** How long after its start a stream still takes appends (Slack: about 306 s, observed); a test sets a second or two. */
  streamLifetimeMs = 306_000;
  /** Text one stream may accumulate (reported as 12,000 characters; Slack does not document it). */
  streamTextLimit = 12_000;
  /** What this workspace allows of canvases. */
  canvasPlan: CanvasPlan = 'paid';
  readonly canvases = new Map<string, FakeCanvas>();
  /** Per-method rate limits of this workspace: Slack's tiers unless a test changes them. */
  readonly limits: Record<string, Limit> = { ...LIMITS };
  private readonly hits = new Map<string, number[]>();
  private readonly uploads = new Map<string, { filename: string; content?: Buffer }>();
  /** Files people attached to their messages, downloadable with the bot token. */
  readonly userFiles = new Map<string, { name: string; content: Buffer; serve?: (res: ServerResponse) => void; mimetype: string }>();
  /** GETs of attached files, authorised or not. */
  fileRequests = 0;
  botToken = 'xoxb-test';
  /** Direct-message channels and the person each is with (for canvas access in a DM). */
  readonly dmUsers = new Map<string, string>();
  /** Messages people sent (the events delivered to the bot), by `channel:ts`, with their thread: they have permalinks too. */
  private readonly peopleMessages = new Map<string, string | undefined>();
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
    this.server = createServer(serving((req, res) => this.route(req, res)));
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

  /** A person presses Stop on a streamed message: Slack ends the stream and answers the bot's next call with stopped_by_user. */
  pressStop(ts: string): void {
    const m = [...this.messages.values()].find((x) => x.ts === ts && x.stream);
    if (!m?.stream) throw new Error(`no streamed message ${ts}`);
    m.stream.stopPressed = true;
  }

  /** Streamed messages in a thread, in order. */
  streams(channel: string, threadTs: string): FakeMessage[] {
    return this.thread(channel, threadTs).filter((m) => m.stream);
  }

  /** The most accepted calls of `method` within any 60 s window. */
  peakPerMinute(method: string): number {
    const at = this.calls.filter((c) => c.method === method && c.ok).map((c) => c.at);
    let peak = 0;
    for (let i = 0, j = 0; j < at.length; j++) {
      while (at[j]! - at[i]! >= 60_000) i++;
      peak = Math.max(peak, j - i + 1);
    }
    return peak;
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
    if (typeof event.channel === 'string' && typeof event.ts === 'string') {
      this.peopleMessages.set(`${event.channel}:${event.ts}`, typeof event.thread_ts === 'string' ? event.thread_ts : undefined);
    }
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
    return this.blockActions(message, user, { type: 'button', action_id: actionId, block_id: 'b', value, action_ts: `${Date.now() / 1000}` });
  }

  /** A block_actions payload as Slack sends it when a person clicks a feedback button at the bottom of a streamed message. */
  feedbackPayload(message: FakeMessage, which: 'positive' | 'negative', user: string): Record<string, unknown> {
    const element = message.blocks
      .flatMap((b) => (b.type === 'context_actions' ? (b.elements as Record<string, unknown>[]) : []))
      .find((e) => e.type === 'feedback_buttons') as { action_id: string; positive_button: { value: string; text: unknown }; negative_button: { value: string; text: unknown } } | undefined;
    if (!element) throw new Error(`no feedback buttons on message ${message.ts}`);
    const button = which === 'positive' ? element.positive_button : element.negative_button;
    return this.blockActions(message, user, { type: 'feedback_buttons', action_id: element.action_id, block_id: 'fb', value: button.value, text: button.text, action_ts: `${Date.now() / 1000}.${++this.seq}` });
  }

  private blockActions(message: FakeMessage, user: string, action: Record<string, unknown>): Record<string, unknown> {
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
      actions: [action],
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
  userFile(
    name: string,
    content: Buffer,
    opts: { size?: number; serve?: (res: ServerResponse) => void; mimetype?: string; filetype?: string } = {},
  ): Record<string, unknown> {
    const id = `F${++this.seq}`;
    const mimetype = opts.mimetype ?? 'application/octet-stream';
    this.userFiles.set(id, { name, content, serve: opts.serve, mimetype });
    // As in a recorded app_mention with a PNG (samples/slack/events/app_mention.files.json): both private URLs.
    const base = `${this.url}/files-pri/${TEAM}-${id}`;
    return {
      id,
      name,
      title: name,
      size: opts.size ?? content.length,
      mimetype,
      filetype: opts.filetype ?? 'binary',
      mode: 'hosted',
      url_private: `${base}/${encodeURIComponent(name)}`,
      url_private_download: `${base}/download/${encodeURIComponent(name)}`,
    };
  }

  /** An image a person attaches: a real PNG of `bytes` bytes (a 1×1 picture padded with a text chunk), declared as Slack does. */
  userImage(name: string, bytes = 2048): Record<string, unknown> {
    return this.userFile(name, pngBytes(bytes), { mimetype: 'image/png', filetype: 'png' });
  }

  // ---- Web API ----

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', this.url);
    const shared = /^\/files-pri\/(?:[A-Z0-9]+-)?([^/]+)\//.exec(url.pathname);
    if (req.method === 'GET' && shared) {
      this.fileRequests++;
      const file = this.userFiles.get(shared[1]!);
      // Slack answers a missing or wrong token with its login page, not the file.
      if (!file || req.headers.authorization !== `Bearer ${this.botToken}`) return void res.writeHead(302, { location: `${this.url}/login` }).end();
      if (file.serve) return file.serve(res);
      res.writeHead(200, { 'content-type': file.mimetype, 'content-length': String(file.content.length) }).end(file.content);
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
    const call: FakeSlack['calls'][number] = { method, args, at: Date.now() };
    this.calls.push(call);
    const answered = (a: Answer) => {
      call.ok = a.body.ok === true;
      if (!call.ok) call.error = String(a.body.error);
      send(res, a);
    };
    // Bot tokens for the Web API; the app-level token only opens Socket Mode connections.
    const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '') || String(args.token ?? '');
    if (!(method === 'apps.connections.open' ? token.startsWith('xapp-') : /^xox[bp]-/.test(token))) {
      return answered({ body: { ok: false, error: 'not_authed' } });
    }
    // A method that never answers, as a hung Slack call looks to the client.
    if (this.hanging.has(method)) return;
    if (!this.streaming && STREAM_METHODS.has(method)) {
      this.unsupported.push(method);
      return answered({ body: { ok: false, error: 'unknown_method' } });
    }
    const limited = this.rateLimit(method, String(args.channel ?? ''));
    if (limited) {
      this.refused.push({ method, error: 'ratelimited' });
      return answered(limited);
    }
    const i = this.failures.findIndex((f) => f.method === method);
    const answer = i >= 0 ? this.failures.splice(i, 1)[0]!.answer : this.answer(method, args);
    if (answer.body.ok === false) this.refused.push({ method, error: String(answer.body.error) });
    // Done, but the answer never leaves: what a client sees when it dies while its request is in flight.
    if (this.stallAfter?.(method, args)) return void this.stalled.push({ method, args });
    // Done, answered late: a slow network or a busy Slack.
    const late = this.slowAnswer?.(method, args) ?? 0;
    if (late > 0) return void setTimeout(() => answered(answer), late);
    answered(answer);
  }

  private rateLimit(method: string, channel: string): Answer | undefined {
    const limit = this.limits[method];
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
        return { body: { ok: true, url: WORKSPACE_URL, team: 'Fake', user: 'deep-research', team_id: TEAM, user_id: BOT_USER, bot_id: 'BBOT' } };
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
        // `oldest` (with `inclusive`, default false): only messages from that ts on, as Slack filters them.
        const oldest = a.oldest === undefined ? undefined : Number(a.oldest);
        const inclusive = String(a.inclusive) === 'true' || a.inclusive === true;
        const after = (m: FakeMessage) => oldest === undefined || Number(m.ts) > oldest || (inclusive && Number(m.ts) === oldest);
        const replies = this.thread(String(a.channel), String(a.ts)).filter(after).map((m) => ({
          type: 'message',
          user: BOT_USER,
          bot_id: 'BBOT',
          ts: m.ts,
          thread_ts: m.thread_ts,
          text: m.text,
          // Streamed messages say whether they still stream (`streaming_state`, as @slack/web-api types the stopped
          // message; how conversations.replies shows it is not documented).
          ...(m.stream ? { streaming_state: this.streamState(m.stream) === 'streaming' ? 'in_progress' : 'completed' } : {}),
          ...(withMeta && m.metadata ? { metadata: m.metadata } : {}),
        }));
        return { body: { ok: true, messages: replies, has_more: false } };
      }
      case 'chat.startStream':
        return this.startStream(a);
      case 'chat.appendStream':
      case 'chat.stopStream':
        return this.streamCall(method, a);
      case 'chat.update': {
        const m = this.messages.get(`${a.channel}:${a.ts}`);
        if (!m) return { body: { ok: false, error: 'message_not_found' } };
        // A message still streaming changes only through the stream (chat.update's method reference lists
        // `streaming_state_conflict`: "The message is currently streaming text and cannot be edited.").
        if (m.stream && this.streamState(m.stream) === 'streaming') return { body: { ok: false, error: 'streaming_state_conflict' } };
        const problem = validateMessage(a);
        if (problem) return { body: { ok: false, error: problem } };
        m.text = String(a.text ?? '');
        m.blocks = blocksOf(a);
        m.history.push({ text: m.text, blocks: m.blocks });
        return { body: { ok: true, channel: m.channel, ts: m.ts, text: m.text } };
      }
      case 'assistant.threads.setStatus':
        return { body: { ok: true } };
      case 'chat.getPermalink':
        return this.permalink(a);
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
      case 'canvases.create':
        return this.createCanvas(a);
      case 'canvases.access.set':
        return this.setCanvasAccess(a);
      case 'files.info': {
        const canvas = this.canvases.get(String(a.file));
        const file = this.files.find((f) => f.id === a.file);
        if (!canvas && !file) return { body: { ok: false, error: 'file_not_found' } };
        const id = canvas?.id ?? file!.id;
        const permalink = canvas ? `https://fake.slack.com/docs/${TEAM}/${id}` : `https://fake.slack.com/files/${BOT_USER}/${id}/${file!.filename}`;
        return { body: { ok: true, file: { id, title: canvas?.title ?? file!.title, filetype: canvas ? 'quip' : 'text', permalink } } };
      }
      default:
        return { body: { ok: false, error: 'unknown_method' } };
    }
  }

  /**
   * chat.getPermalink as documented (docs.slack.dev; slack_kit chat.getPermalink.json: errors channel_not_found and
   * message_not_found, no scope needed): `https://<domain>.slack.com/archives/<channel>/p<ts without its dot>`, and for
   * a reply in a thread `?thread_ts=<thread>&cid=<channel>`, as Slack's links to thread replies read.
   */
  private permalink(a: Record<string, unknown>): Answer {
    const channel = String(a.channel ?? '');
    const ts = String(a.message_ts ?? '');
    if (!/^[CDG][A-Z0-9]+$/.test(channel)) return { body: { ok: false, error: 'channel_not_found' } };
    const key = `${channel}:${ts}`;
    const bot = this.messages.get(key);
    if (!bot && !this.peopleMessages.has(key)) return { body: { ok: false, error: 'message_not_found' } };
    const thread = bot ? bot.thread_ts : this.peopleMessages.get(key);
    const reply = thread && thread !== ts ? `?thread_ts=${thread}&cid=${channel}` : '';
    return { body: { ok: true, channel, permalink: `${WORKSPACE_URL.replace(/\/$/, '')}/archives/${channel}/p${ts.replace('.', '')}${reply}` } };
  }

  // ---- Canvases, as documented (docs.slack.dev canvases.create, canvases.access.set; slack_kit's error lists) ----

  /** The canvases a thread's messages link to, in order. */
  canvasesLinkedIn(channel: string, threadTs: string): FakeCanvas[] {
    return this.thread(channel, threadTs).flatMap((m) => [...this.canvases.values()].filter((c) => m.text.includes(c.id)));
  }

  private canvasScope(): Answer | undefined {
    if (this.canvasPlan === 'missing_scope') return { body: { ok: false, error: 'missing_scope', needed: 'canvases:write', provided: 'app_mentions:read,channels:history,chat:write,files:write,files:read' } };
    if (this.canvasPlan === 'disabled') return { body: { ok: false, error: 'canvas_disabled_user_team' } };
    return undefined;
  }

  private createCanvas(a: Record<string, unknown>): Answer {
    const refused = this.canvasScope();
    if (refused) return refused;
    const channel = a.channel_id ? String(a.channel_id) : undefined;
    // "channel_id … is a required field for free teams"; a free team has one canvas tab per channel.
    if (this.canvasPlan === 'free') {
      if (!channel) return { body: { ok: false, error: 'free_teams_cannot_create_non_tabbed_canvases' } };
      if ([...this.canvases.values()].some((c) => c.channel_id === channel)) return { body: { ok: false, error: 'free_team_canvas_tab_already_exists' } };
    }
    let content: { type?: unknown; markdown?: unknown } = {};
    try {
      content = (typeof a.document_content === 'string' ? JSON.parse(a.document_content) : (a.document_content ?? {})) as typeof content;
    } catch {
      return { body: { ok: false, error: 'invalid_arguments' } };
    }
    // Only `markdown` is a document_content type (an assumption for the error's name).
    if (a.document_content !== undefined && (content.type !== 'markdown' || typeof content.markdown !== 'string')) return { body: { ok: false, error: 'invalid_arguments' } };
    const markdown = typeof content.markdown === 'string' ? content.markdown : '';
    if (markdown.length > CANVAS_MARKDOWN_MAX) return { body: { ok: false, error: 'canvas_creation_failed' } };
    const id = `F0CANVAS${++this.seq}`;
    const canvas: FakeCanvas = { id, title: a.title === undefined ? undefined : String(a.title), markdown, channel_id: channel, access: new Map() };
    // A canvas tabbed in a channel is writable by its members.
    if (channel) canvas.access.set(channel, 'write');
    this.canvases.set(id, canvas);
    return { body: { ok: true, canvas_id: id } };
  }

  private setCanvasAccess(a: Record<string, unknown>): Answer {
    const refused = this.canvasScope();
    if (refused) return refused;
    const canvas = this.canvases.get(String(a.canvas_id ?? ''));
    if (!canvas) return { body: { ok: false, error: 'canvas_not_found' } };
    const list = (v: unknown) => (v === undefined ? undefined : ((typeof v === 'string' ? JSON.parse(v) : v) as string[]));
    const channels = list(a.channel_ids);
    const users = list(a.user_ids);
    // "One of user_ids or channel_ids must be defined, but not both."
    if (!channels === !users || (channels ?? users)!.length === 0) return { body: { ok: false, error: 'invalid_parameters' } };
    const level = String(a.access_level);
    if (!['read', 'write', 'owner'].includes(level) || (level === 'owner' && channels)) return { body: { ok: false, error: 'invalid_arguments' } };
    if (channels) {
      // "Access levels can only be set for regular channels" (the error for a DM is not documented).
      if (channels.some((c) => /^D/.test(c))) return { body: { ok: false, error: 'channel_not_found' } };
      for (const c of channels) canvas.access.set(c, level);
      return { body: { ok: true } };
    }
    // A user must have been sent the canvas directly first.
    const sent = (u: string) => [...this.messages.values()].some((m) => this.dmUsers.get(m.channel) === u && m.text.includes(canvas.id));
    const failed = users!.filter((u) => !sent(u));
    if (failed.length) return { body: { ok: false, error: 'failed_to_update_user_ids', failed_to_update_user_ids: failed } };
    for (const u of users!) canvas.access.set(u, level);
    return { body: { ok: true } };
  }

  // ---- Message streaming, as documented (docs.slack.dev chat.*Stream) and as observed (lifetime, field caps) ----

  private startStream(a: Record<string, unknown>): Answer {
    const channel = String(a.channel ?? '');
    if (!channel) return { body: { ok: false, error: 'channel_not_found' } };
    if (!a.thread_ts) return { body: { ok: false, error: 'invalid_arguments' } };
    // "Required when streaming to channels."
    if (!channel.startsWith('D')) {
      if (!a.recipient_user_id) return { body: { ok: false, error: 'missing_recipient_user_id' } };
      if (!a.recipient_team_id) return { body: { ok: false, error: 'missing_recipient_team_id' } };
    }
    const chunks = chunksOf(a);
    if (!a.markdown_text && chunks.length === 0) return { body: { ok: false, error: 'invalid_arguments' } };
    const stream: FakeStream = {
      state: 'streaming',
      startedAt: Date.now(),
      recipient_user_id: a.recipient_user_id as string | undefined,
      recipient_team_id: a.recipient_team_id as string | undefined,
      task_display_mode: a.task_display_mode as string | undefined,
      tasks: new Map(),
      markdown: '',
      blocks: [],
      stopPressed: false,
    };
    const problem = applyStream(stream, a, chunks, this.streamTextLimit);
    if (problem) return { body: { ok: false, error: problem } };
    const ts = `${++this.clock}.000${String(++this.seq).padStart(3, '0')}`;
    const m: FakeMessage = { channel, ts, thread_ts: String(a.thread_ts), text: '', blocks: [], history: [], stream };
    this.messages.set(`${channel}:${ts}`, m);
    renderStream(m);
    return { body: { ok: true, channel, ts } };
  }

  private streamCall(method: string, a: Record<string, unknown>): Answer {
    const m = this.messages.get(`${a.channel}:${a.ts}`);
    if (!m) return { body: { ok: false, error: 'message_not_found' } };
    if (!m.stream) return { body: { ok: false, error: 'message_not_in_streaming_state' } };
    const state = this.streamState(m.stream);
    if (m.stream.stopPressed && state !== 'stopped') {
      m.stream.state = 'stopped_by_user';
      return { body: { ok: false, error: 'stopped_by_user' } };
    }
    if (state !== 'streaming') return { body: { ok: false, error: 'message_not_in_streaming_state' } };
    const chunks = chunksOf(a);
    if (method === 'chat.appendStream' && !a.markdown_text && chunks.length === 0) return { body: { ok: false, error: 'invalid_arguments' } };
    let blocks: Record<string, unknown>[] = [];
    if (method === 'chat.stopStream') {
      blocks = blocksOf(a);
      const problem = blocks.length > 50 ? 'invalid_blocks' : blocks.map(validateStreamBlock).find(Boolean);
      if (problem) return { body: { ok: false, error: problem } };
    }
    const problem = applyStream(m.stream, a, chunks, this.streamTextLimit);
    if (problem) return { body: { ok: false, error: problem } };
    if (method === 'chat.stopStream') {
      m.stream.blocks = blocks;
      m.stream.state = 'stopped';
      if (a.metadata) m.metadata = (typeof a.metadata === 'string' ? JSON.parse(a.metadata) : a.metadata) as Record<string, unknown>;
    }
    renderStream(m);
    return { body: { ok: true, channel: m.channel, ts: m.ts } };
  }

  /** A stream expires `streamLifetimeMs` after its start, whatever was appended meanwhile. */
  private streamState(stream: FakeStream): FakeStream['state'] {
    if (stream.state === 'streaming' && Date.now() - stream.startedAt >= this.streamLifetimeMs) stream.state = 'expired';
    return stream.state;
  }
}

function chunksOf(a: Record<string, unknown>): Record<string, unknown>[] {
  if (!a.chunks) return [];
  return (typeof a.chunks === 'string' ? JSON.parse(a.chunks) : a.chunks) as Record<string, unknown>[];
}

/** Applies one call's text and chunks to a stream, all or nothing; the error Slack would give, if any. */
function applyStream(stream: FakeStream, a: Record<string, unknown>, chunks: Record<string, unknown>[], textLimit: number): string | undefined {
  let text = a.markdown_text ? String(a.markdown_text) : '';
  for (const c of chunks) {
    switch (c.type) {
      case 'markdown_text':
        if (typeof c.text !== 'string') return 'invalid_chunks';
        text += c.text;
        break;
      case 'plan_update':
        if (typeof c.title !== 'string' || !c.title || c.title.length > STREAM_FIELD_MAX) return 'invalid_chunks';
        break;
      case 'task_update': {
        if (typeof c.id !== 'string' || !c.id || typeof c.title !== 'string' || !c.title || c.title.length > STREAM_FIELD_MAX) return 'invalid_chunks';
        if (!TASK_STATUSES.has(String(c.status))) return 'invalid_chunks';
        if (c.details !== undefined && (typeof c.details !== 'string' || c.details.length > STREAM_FIELD_MAX)) return 'invalid_chunks';
        const sources = (c.sources ?? []) as { type?: string; url?: string; text?: string }[];
        if (!Array.isArray(sources) || sources.some((x) => x.type !== 'url' || !/^https?:\/\//.test(x.url ?? '') || typeof x.text !== 'string')) return 'invalid_chunks';
        break;
      }
      case 'blocks':
        if (!Array.isArray(c.blocks) || c.blocks.length > 50) return 'invalid_chunks';
        break;
      default:
        return 'invalid_chunks';
    }
  }
  if (text.length > STREAM_CALL_TEXT_MAX) return 'msg_too_long';
  if (stream.markdown.length + text.length > textLimit) return 'msg_too_long';
  for (const c of chunks) {
    if (c.type === 'plan_update') stream.title = String(c.title);
    if (c.type === 'task_update') {
      const id = String(c.id);
      const prev = stream.tasks.get(id);
      stream.tasks.set(id, {
        task_id: id,
        title: String(c.title),
        status: String(c.status),
        details: (prev?.details ?? '') + (c.details ? String(c.details) : ''),
        sources: [...(prev?.sources ?? []), ...((c.sources ?? []) as FakeTask['sources'])],
      });
    }
  }
  stream.markdown += text;
  return undefined;
}

/** What people see of a streamed message: the plan with its task cards, the streamed text, the final blocks. */
function renderStream(m: FakeMessage): void {
  const s = m.stream!;
  const blocks: Record<string, unknown>[] = [];
  if (s.title !== undefined || s.tasks.size > 0) {
    blocks.push({
      type: 'plan',
      title: s.title ?? '',
      tasks: [...s.tasks.values()].map((t) => ({ type: 'task_card', task_id: t.task_id, title: t.title, status: t.status, details: t.details, sources: t.sources })),
    });
  }
  if (s.markdown) blocks.push({ type: 'markdown', text: s.markdown });
  blocks.push(...s.blocks);
  m.text = s.markdown;
  m.blocks = blocks;
  m.history.push({ text: m.text, blocks: m.blocks });
}

/** Blocks chat.stopStream may put under a streamed message, feedback buttons included. */
function validateStreamBlock(b: Record<string, unknown>): string | undefined {
  if (b.type === 'context_actions') {
    const els = b.elements as Record<string, unknown>[];
    if (!Array.isArray(els) || !els.length || els.length > 5) return 'invalid_blocks';
    for (const e of els) {
      if (e.type !== 'feedback_buttons' && e.type !== 'icon_button') return 'invalid_blocks';
      if (e.type === 'feedback_buttons') {
        for (const button of [e.positive_button, e.negative_button] as { text?: { type?: string; text?: string }; value?: string }[]) {
          if (button?.text?.type !== 'plain_text' || !button.text.text || button.text.text.length > 75 || !button.value || button.value.length > 2000) return 'invalid_blocks';
        }
      }
    }
    return undefined;
  }
  return validateBlock(b);
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
    const problem = validateBlock(b);
    if (problem) return problem;
  }
  if (markdown > 12_000) return 'msg_blocks_too_long';
  return undefined;
}

function validateBlock(b: Record<string, unknown>): string | undefined {
  if (b.type === 'markdown') return undefined;
  if (b.type === 'section') {
    const t = (b.text as { text?: string } | undefined)?.text ?? '';
    if (!t || t.length > 3000) return 'invalid_blocks';
  } else if (b.type === 'context') {
    const els = b.elements as { text?: string }[];
    if (!els?.length || els.length > 10 || els.some((e) => (e.text ?? '').length > 3000)) return 'invalid_blocks';
  } else if (b.type === 'actions') {
    const els = b.elements as { text?: { text?: string }; value?: string }[];
    if (!els?.length || els.length > 25 || els.some((e) => (e.text?.text ?? '').length > 75 || (e.value ?? '').length > 2000)) return 'invalid_blocks';
  } else return 'invalid_blocks';
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

/**
 * A valid PNG of exactly `size` bytes when that is at least the smallest one (a 1×1 RGB picture, 69 bytes): the picture,
 * padded with a `tEXt` comment chunk, each chunk with its CRC, as decoders check them.
 */
export function pngBytes(size = 0): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(1, 0);
  ihdr.writeUInt32BE(1, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  const head = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  const tail = [chunk('IDAT', deflateSync(Buffer.from([0, 0x33, 0x66, 0x99]))), chunk('IEND', Buffer.alloc(0))];
  const bare = [...head, ...tail].reduce((n, b) => n + b.length, 0);
  const keyword = Buffer.from('Comment\0', 'latin1');
  const room = size - bare - 12 - keyword.length;
  if (room < 0) return Buffer.concat([...head, ...tail]);
  return Buffer.concat([...head, chunk('tEXt', Buffer.concat([keyword, Buffer.alloc(room, 0x78)])), ...tail]);
}
