import { serving } from './serving.js';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Lexer } from 'marked';
import { messageGet, messageResource, pngBytes, type Reply } from './feishu-messages.js';

export const APP_ID = 'cli_0123456789abcdef';
export const APP_SECRET = 'fake-app-secret';
export const BOT_OPEN_ID = 'ou_bot';
export const TENANT = 'tenant1';
export const ENCRYPT_KEY = 'fake-encrypt-key';

/** Feishu's limits, as documented (feishu.md §3). */
const CARD_MAX_BYTES = 30 * 1024;
const TABLES_PER_CARD = 3;
const PATCH_PER_MESSAGE_PER_S = 5;
const APP_PER_S = 50;
/** CardKit: operations per second per card entity (streaming overview page). */
const CARD_OPS_PER_S = 10;
const MAX_SEQUENCE = 2 ** 31 - 1;
/** element_id: a letter, then letters, digits and underscores, at most 20 characters (card-v2-rules.json). */
const ELEMENT_ID = /^[A-Za-z][A-Za-z0-9_]{0,19}$/;

/** A CardKit card entity as the fake keeps it. */
export interface FakeCard {
  card_id: string;
  /** The card JSON as it is now. */
  card: Record<string, unknown>;
  streaming: boolean;
  /** When streaming was last turned on. */
  streamingSince: number;
  /** Streaming was closed by the timeout (not by settings), and whether a write has been told so (200850) yet. */
  timedOut: boolean;
  timeoutReported: boolean;
  /** The message it was sent as (a card entity can be sent once). */
  messageId?: string;
  /** Every accepted operation, in order, with its sequence. */
  ops: { kind: 'content' | 'element' | 'update' | 'settings'; sequence: number; at: number; elementId?: string }[];
  /** Every config applied by settings. */
  settings: Record<string, unknown>[];
  uuids: Set<string>;
}

export interface FakeFeishuMessage {
  message_id: string;
  chat_id: string;
  root_id?: string;
  thread_id?: string;
  parent_id?: string;
  sender: string;
  msg_type: string;
  /** Parsed content: a card, `{text}`, or `{file_key}`. A card entity's message shows the entity as it is now. */
  content: Record<string, unknown>;
  /** Set when the message is a CardKit card entity. */
  card_id?: string;
  /** Every version: the sent content then each patch. */
  history: Record<string, unknown>[];
}

type Answer = { status: number; body: Record<string, unknown>; headers?: Record<string, string> };

/**
 * A local Feishu Open API: tenant tokens (which can be expired at will), bot info, message reply/patch, file
 * upload, Feishu's `{code,msg}` errors and rate limits; plus builders for the events and card callbacks
 * Feishu sends, encrypted and signed for the webhook.
 */
export class FakeFeishu {
  readonly messages = new Map<string, FakeFeishuMessage>();
  readonly files = new Map<string, { name: string; content: Buffer }>();
  /** People's pictures and files by image_key / file_key, served by the message resource API (see feishu-messages.ts). */
  readonly resources = new Map<string, Buffer>();
  readonly calls: { method: string; path: string; at: number }[] = [];
  /** Every refusal sent, with its code. */
  readonly refused: { path: string; code: number }[] = [];
  /** Answers the next matching calls get instead of the normal one, in order. */
  readonly failures: { path: RegExp; answer: Answer }[] = [];
  /** CardKit card entities by card_id. */
  readonly cards = new Map<string, FakeCard>();
  /**
   * How long a card's streaming stays on before the fake closes it, as Feishu does after 10 minutes (documented
   * as "流式更新模式将在距上次开启 10 分钟后自动关闭"; the exact behaviour is UNCONFIRMED, see feishu.md §4).
   */
  streamingCloseMs = 10 * 60_000;
  /** Refuse every CardKit call as an app without the cardkit:card:write scope would be refused. */
  refuseCardKit = false;
  /** Docx documents and the drive permissions on them (see FakeDocx). */
  readonly docx = new FakeDocx();
  tokensIssued = 0;
  private validTokens = new Set<string>();
  /** Messages sent with a `uuid`, and when: a repeat within `uuidWindowMs` answers with the earlier message. */
  private readonly byUuid = new Map<string, { msg: FakeFeishuMessage; at: number }>();
  /**
   * How long a reply's `uuid` deduplicates: "持有相同 uuid 的请求，在 1 小时内至多成功回复一条消息" (reply API). That a
   * repeat is answered with the earlier message (code 0, its message_id) rather than refused is UNCONFIRMED.
   */
  uuidWindowMs = 60 * 60_000;
  /** Replies answered with an earlier message because of their uuid. */
  uuidRepeats = 0;
  private readonly hits = new Map<string, number[]>();
  private server: Server | undefined;
  private seq = 0;

  get url(): string {
    const addr = this.server?.address() as AddressInfo | undefined;
    if (!addr) throw new Error('fake Feishu is not listening');
    return `http://127.0.0.1:${addr.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer(serving((req, res) => this.route(req, res)));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Every token issued so far stops working, as when Feishu rotates or revokes them. */
  expireTokens(): void {
    this.validTokens.clear();
  }

  /** Messages in a thread (by its root), the root itself excluded, in order. */
  thread(root: string): FakeFeishuMessage[] {
    return [...this.messages.values()].filter((m) => m.root_id === root && m.message_id !== root);
  }

  callsTo(path: RegExp): number {
    return this.calls.filter((c) => path.test(c.path)).length;
  }

  // ---- what people do ------------------------------------------------------------------------------

  /** A person's message; returns the `im.message.receive_v1` event Feishu would push. */
  /**
   * A person's message; returns the `im.message.receive_v1` event Feishu would push. `images`: a post with these
   * pictures (their bytes served by the resource API) as `img` elements after the text. `root`: in the thread of
   * that message (or replying to it).
   */
  userMessage(opts: { text: string; chat?: string; user?: string; root?: string; p2p?: boolean; mentionBot?: boolean; post?: boolean; images?: Buffer[] }): Record<string, unknown> {
    const text = `${opts.mentionBot ? '@_user_1 ' : ''}${opts.text}`;
    const imgs = (opts.images ?? []).map((bytes) => [{ tag: 'img', image_key: this.addResource('img_v3_', bytes), width: 1, height: 1 }]);
    const post = opts.post || imgs.length > 0;
    const content = post ? { title: '', content: [[{ tag: 'text', text }], ...imgs] } : { text };
    return this.userEvent(post ? 'post' : 'text', content, opts);
  }

  /** A picture a person sends (an `image` message; a real PNG unless `bytes` are given); returns its event. */
  userImage(opts: { bytes?: Buffer; chat?: string; user?: string; root?: string } = {}): Record<string, unknown> {
    return this.userEvent('image', { image_key: this.addResource('img_v3_', opts.bytes ?? pngBytes()) }, opts);
  }

  /** A file a person sends (a `file` message); returns its event. */
  userFile(name: string, bytes: Buffer, opts: { chat?: string; user?: string; root?: string } = {}): Record<string, unknown> {
    return this.userEvent('file', { file_key: this.addResource('file_v3_', bytes), file_name: name }, opts);
  }

  private addResource(prefix: string, bytes: Buffer): string {
    const key = `${prefix}${String(++this.seq).padStart(4, '0')}_fake`;
    this.resources.set(key, bytes);
    return key;
  }

  private userEvent(type: string, content: Record<string, unknown>, opts: { chat?: string; user?: string; root?: string; p2p?: boolean; mentionBot?: boolean }): Record<string, unknown> {
    const id = `om_u${++this.seq}`;
    const chat = opts.chat ?? 'oc_group';
    const root = opts.root ? this.messages.get(opts.root)?.root_id ?? opts.root : undefined;
    const mentions = opts.mentionBot ? [{ key: '@_user_1', id: { open_id: BOT_OPEN_ID, union_id: 'on_bot' }, name: 'Deep Research', tenant_key: TENANT }] : [];
    const msg: FakeFeishuMessage = {
      message_id: id,
      chat_id: chat,
      root_id: root,
      thread_id: root ? `omt_${root}` : undefined,
      parent_id: root,
      sender: opts.user ?? 'ou_alice',
      msg_type: type,
      content,
      history: [content],
    };
    this.messages.set(id, msg);
    return this.envelope('im.message.receive_v1', {
      sender: { sender_id: { open_id: msg.sender, user_id: 'u1', union_id: 'on_u' }, sender_type: 'user', tenant_key: TENANT },
      message: {
        message_id: id,
        ...(root ? { root_id: root, parent_id: root, thread_id: msg.thread_id } : {}),
        create_time: String(Date.now()),
        update_time: String(Date.now()),
        chat_id: chat,
        chat_type: opts.p2p ? 'p2p' : 'group',
        message_type: msg.msg_type,
        content: JSON.stringify(content),
        ...(mentions.length ? { mentions } : {}),
      },
    });
  }

  /** A click on a card button (or a form submission) in one of the bot's cards. */
  cardAction(messageId: string, action: string, opts: { user?: string; answer?: string } = {}): Record<string, unknown> {
    const msg = this.messages.get(messageId);
    if (!msg) throw new Error(`no message ${messageId}`);
    const button = findButtons(msg.content).find((b) => (b.behaviors as { value?: { a?: string } }[] | undefined)?.[0]?.value?.a === action);
    if (!button) throw new Error(`message ${messageId} has no ${action} button`);
    const value = (button.behaviors as { value: unknown }[])[0]!.value;
    return this.envelope('card.action.trigger', {
      operator: { tenant_key: TENANT, open_id: opts.user ?? 'ou_alice', union_id: 'on_u' },
      token: `c-${++this.seq}`,
      action: {
        value,
        tag: 'button',
        ...(opts.answer !== undefined ? { name: 'submit', form_value: { answer: opts.answer } } : {}),
      },
      host: 'im_message',
      context: { open_message_id: messageId, open_chat_id: msg.chat_id },
    });
  }

  /**
   * A submission of the form in one of the bot's cards, shaped like the recorded schema-2.0 callback
   * (test/fixtures/samples/feishu/events/card.action.trigger.form_submit.json): `tag: button`, the submit button's
   * `name`, `value: {}` (form buttons carry no behaviors) and the form's inputs in `form_value`.
   */
  formSubmit(messageId: string, answer: string, opts: { user?: string } = {}): Record<string, unknown> {
    const msg = this.messages.get(messageId);
    if (!msg) throw new Error(`no message ${messageId}`);
    const form = nodes(msg.content).find((n) => n.tag === 'form');
    if (!form) throw new Error(`message ${messageId} has no form`);
    const submit = nodes(form).find((n) => n.tag === 'button' && n.form_action_type === 'submit');
    const input = nodes(form).find((n) => n.tag === 'input');
    if (!submit || !input) throw new Error(`the form in ${messageId} has no input or submit button`);
    return this.envelope('card.action.trigger', {
      operator: { tenant_key: TENANT, open_id: opts.user ?? 'ou_alice', union_id: 'on_u' },
      token: `c-${++this.seq}`,
      action: { tag: 'button', value: {}, name: submit.name, form_value: { [String(input.name)]: answer }, options: [], checked: false },
      host: 'im_message',
      context: { open_message_id: messageId, open_chat_id: msg.chat_id },
    });
  }

  envelope(type: string, event: Record<string, unknown>): Record<string, unknown> {
    return {
      schema: '2.0',
      header: { event_id: `ev_${++this.seq}`, event_type: type, create_time: String(Date.now()), token: 'vtoken', app_id: APP_ID, tenant_key: TENANT },
      event,
    };
  }

  /** Pushes an event or callback to a webhook the way Feishu does: AES-256-CBC encrypted and signed. */
  async deliver(endpoint: string, payload: unknown, opts: { encryptKey?: string; badSignature?: boolean } = {}): Promise<{ status: number; body: string; ms: number }> {
    const key = opts.encryptKey ?? ENCRYPT_KEY;
    const body = JSON.stringify({ encrypt: encrypt(JSON.stringify(payload), key) });
    const ts = String(Math.floor(Date.now() / 1000));
    const nonce = randomBytes(8).toString('hex');
    const signature = createHash('sha256').update(ts + nonce + key + body).digest('hex');
    const started = performance.now();
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-lark-request-timestamp': ts,
        'x-lark-request-nonce': nonce,
        'x-lark-signature': opts.badSignature ? signature.replace(/^./, (c) => (c === '0' ? '1' : '0')) : signature,
      },
      body,
    });
    return { status: res.status, body: await res.text(), ms: performance.now() - started };
  }

  // ---- the Open API --------------------------------------------------------------------------------

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const raw = await readBody(req);
    this.calls.push({ method: req.method ?? '', path: url.pathname, at: Date.now() });
    const send = (a: Answer) => {
      if (a.body.code !== 0) this.refused.push({ path: url.pathname, code: a.body.code as number });
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers }).end(JSON.stringify(a.body));
    };
    // A file's bytes, or a refusal like any other.
    const reply = (r: Reply) => ('bytes' in r ? void res.writeHead(200, r.headers).end(r.bytes) : send(r));
    if (url.pathname === '/open-apis/auth/v3/tenant_access_token/internal') {
      const body = JSON.parse(raw.toString() || '{}') as { app_id?: string; app_secret?: string };
      if (body.app_id !== APP_ID || body.app_secret !== APP_SECRET) return send({ status: 400, body: { code: 10014, msg: 'app secret invalid' } });
      const token = `t-${++this.tokensIssued}`;
      this.validTokens.add(token);
      return send({ status: 200, body: { code: 0, msg: 'ok', tenant_access_token: token, expire: 7200 } });
    }
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token || !this.validTokens.has(token)) {
      return send({ status: 400, body: { code: 99991663, msg: 'Invalid access token for authorization. Please make a request with token attached.' } });
    }
    const failure = this.failures.findIndex((f) => f.path.test(url.pathname));
    if (failure >= 0) return send(this.failures.splice(failure, 1)[0]!.answer);
    if (!this.allow('app', APP_PER_S)) {
      return send({ status: 429, body: { code: 99991400, msg: 'request trigger frequency limit' }, headers: { 'x-ogw-ratelimit-limit': '50', 'x-ogw-ratelimit-reset': '1' } });
    }
    if (req.method === 'GET' && url.pathname === '/open-apis/bot/v3/info') {
      return send({ status: 200, body: { code: 0, msg: 'ok', bot: { activate_status: 2, app_name: 'Deep Research', open_id: BOT_OPEN_ID, ip_white_list: [] } } });
    }
    let m = /^\/open-apis\/im\/v1\/messages\/([^/]+)\/resources\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && m) return reply(messageResource(this.messages, this.resources, m[1]!, m[2]!, url.searchParams.get('type')));
    m = /^\/open-apis\/im\/v1\/messages\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && m) return reply(messageGet(this.messages, m[1]!, TENANT, APP_ID));
    m = /^\/open-apis\/im\/v1\/messages\/([^/]+)\/reply$/.exec(url.pathname);
    if (req.method === 'POST' && m) return send(this.reply(m[1]!, JSON.parse(raw.toString()) as Record<string, unknown>));
    m = /^\/open-apis\/im\/v1\/messages\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'PATCH' && m) return send(this.patch(m[1]!, JSON.parse(raw.toString()) as { content?: string }));
    if (req.method === 'POST' && url.pathname === '/open-apis/im/v1/files') return send(await this.upload(req, raw));
    if (url.pathname.startsWith('/open-apis/cardkit/v1/cards')) return send(this.cardkit(req.method ?? '', url.pathname, raw.toString()));
    if (url.pathname.startsWith('/open-apis/docx/') || url.pathname.startsWith('/open-apis/drive/')) {
      return send(this.docx.route(req.method ?? '', url, raw.toString(), (key, perSecond) => this.allow(key, perSecond)));
    }
    send({ status: 404, body: { code: 404, msg: `fake Feishu does not serve ${req.method} ${url.pathname}` } });
  }

  private reply(parentId: string, body: Record<string, unknown>): Answer {
    // The same uuid within an hour sends nothing new (request-level idempotency), whatever the content: the answer
    // is the earlier message's, checked before the content (a card entity in it is neither checked nor sent).
    const earlier = typeof body.uuid === 'string' ? this.byUuid.get(body.uuid) : undefined;
    if (earlier && Date.now() - earlier.at < this.uuidWindowMs) {
      this.uuidRepeats++;
      return sent(earlier.msg);
    }
    const parent = this.messages.get(parentId);
    if (!parent) return { status: 400, body: { code: 230011, msg: 'The message was withdrawn or not found.' } };
    const msgType = String(body.msg_type);
    let content: Record<string, unknown>;
    try {
      content = JSON.parse(String(body.content)) as Record<string, unknown>;
    } catch {
      return { status: 400, body: { code: 230001, msg: 'invalid message content' } };
    }
    let entity: FakeCard | undefined;
    if (msgType === 'interactive' && ('card_id' in content || content.type === 'card')) {
      // A card entity by reference: `{"type":"card","data":{"card_id":…}}`; a bare `{card_id}` is refused (200621).
      const cardId = (content.data as { card_id?: unknown } | undefined)?.card_id;
      if (content.type !== 'card' || typeof cardId !== 'string') return { status: 400, body: { code: 230099, msg: 'Failed to create card content, ext=ErrCode: 200621; ErrMsg: parse card json err' } };
      entity = this.cards.get(cardId);
      if (!entity) return { status: 400, body: { code: 230099, msg: 'Failed to create card content, ext=ErrCode: 11310; ErrMsg: cardid is invalid' } };
      if (entity.messageId) return { status: 400, body: { code: 230099, msg: 'Failed to create card content, ext=ErrCode: 11310; ErrMsg: card entity has been sent' } };
      content = structuredClone(entity.card);
    } else if (msgType === 'interactive') {
      const problem = checkCard(String(body.content), content);
      if (problem) return { status: 400, body: problem };
    }
    if (msgType === 'file' && !this.files.has(String(content.file_key))) return { status: 400, body: { code: 230001, msg: 'file_key not found' } };
    const root = parent.root_id ?? parent.message_id;
    if (body.reply_in_thread === true) parent.root_id ??= parent.message_id;
    const id = `om_b${++this.seq}`;
    const msg: FakeFeishuMessage = {
      message_id: id,
      chat_id: parent.chat_id,
      root_id: root,
      parent_id: parentId,
      thread_id: `omt_${root}`,
      sender: BOT_OPEN_ID,
      msg_type: msgType,
      content,
      history: [content],
    };
    this.messages.set(id, msg);
    if (entity) {
      entity.messageId = id;
      msg.card_id = entity.card_id;
    }
    if (typeof body.uuid === 'string') this.byUuid.set(body.uuid, { msg, at: Date.now() });
    return sent(msg);
  }

  private patch(id: string, body: { content?: string }): Answer {
    const msg = this.messages.get(id);
    if (!msg) return { status: 400, body: { code: 230011, msg: 'The message was withdrawn or not found.' } };
    if (msg.msg_type !== 'interactive' || msg.sender !== BOT_OPEN_ID) return { status: 400, body: { code: 230001, msg: 'only cards sent by the app can be patched' } };
    // UNCONFIRMED: CardKit users report that a card entity is not updated through the IM patch (feishu.md §4).
    if (msg.card_id) return { status: 400, body: { code: 230001, msg: 'a card entity is updated through CardKit (fake)' } };
    if (!this.allow(`patch:${id}`, PATCH_PER_MESSAGE_PER_S)) return { status: 400, body: { code: 230020, msg: 'This operation triggers the frequency limit.' } };
    const content = JSON.parse(body.content ?? '{}') as Record<string, unknown>;
    const problem = checkCard(body.content ?? '', content);
    if (problem) return { status: 400, body: problem };
    msg.content = content;
    msg.history.push(content);
    return { status: 200, body: { code: 0, msg: 'success', data: {} } };
  }

  // ---- CardKit ---------------------------------------------------------------------------------------

  /** The card entity a message was sent as. */
  cardOf(messageId: string): FakeCard | undefined {
    const id = this.messages.get(messageId)?.card_id;
    return id ? this.cards.get(id) : undefined;
  }

  private cardkit(method: string, path: string, raw: string): Answer {
    if (this.refuseCardKit) {
      return { status: 400, body: { code: 99991672, msg: 'Access denied. One of the following scopes is required: [cardkit:card:write]. 应用尚未开通所需的应用身份权限' } };
    }
    const body = (raw ? JSON.parse(raw) : {}) as Record<string, unknown>;
    if (method === 'POST' && path === '/open-apis/cardkit/v1/cards') return this.createCard(body);
    if (method === 'POST' && path === '/open-apis/cardkit/v1/cards/id_convert') {
      // "将消息 ID（message_id）转换为卡片实体 ID（card_id）" (SDK docstring of card.idConvert). The refusal for a message
      // that is no card entity (a patched card, an unknown id) is UNCONFIRMED.
      const card = this.cardOf(String(body.message_id));
      if (!card) return { status: 400, body: { code: 300301, msg: 'message is not a card entity (fake)' } };
      return { status: 200, body: { code: 0, msg: 'success', data: { card_id: card.card_id } } };
    }
    let m = /^\/open-apis\/cardkit\/v1\/cards\/([^/]+)$/.exec(path);
    if (method === 'PUT' && m) {
      const data = (body.card as { data?: string } | undefined)?.data ?? '';
      return this.cardOp(m[1]!, body, 'update', (card) => {
        let next: Record<string, unknown>;
        try {
          next = JSON.parse(data) as Record<string, unknown>;
        } catch {
          return { code: 300315, msg: 'invalid card json' };
        }
        const problem = checkEntity(data, next);
        if (problem) return problem;
        card.card = next;
        // A whole update can turn streaming off; only settings turn it on again.
        if ((next.config as { streaming_mode?: boolean } | undefined)?.streaming_mode === false) card.streaming = false;
        return undefined;
      });
    }
    m = /^\/open-apis\/cardkit\/v1\/cards\/([^/]+)\/settings$/.exec(path);
    if (method === 'PATCH' && m) {
      return this.cardOp(m[1]!, body, 'settings', (card) => {
        const config = (JSON.parse(String(body.settings ?? '{}')) as { config?: Record<string, unknown> }).config ?? {};
        card.card = { ...card.card, config: { ...(card.card.config as object), ...config } };
        card.settings.push(config);
        if (config.streaming_mode === false) card.streaming = false;
        if (config.streaming_mode === true) {
          card.streaming = true;
          card.streamingSince = Date.now();
          card.timedOut = false;
        }
        return undefined;
      });
    }
    m = /^\/open-apis\/cardkit\/v1\/cards\/([^/]+)\/elements\/([^/]+)\/content$/.exec(path);
    if (method === 'PUT' && m) {
      const elementId = m[2]!;
      return this.cardOp(m[1]!, body, 'content', (card) => {
        const el = elementById(card.card, elementId);
        if (!el || (el.tag !== 'markdown' && el.tag !== 'plain_text')) return { code: 300313, msg: `element ${elementId} not found or not text` };
        if (!card.streaming) {
          // The first write after the timeout is told so; later ones that streaming is closed.
          if (card.timedOut && !card.timeoutReported) {
            card.timeoutReported = true;
            return { code: 200850, msg: 'card streaming timeout' };
          }
          return { code: 300309, msg: 'streaming mode is closed' };
        }
        const before = el.content;
        el.content = String(body.content ?? '');
        const problem = checkEntity(JSON.stringify(card.card), card.card);
        if (problem) el.content = before;
        return problem && { ...problem, code: problem.code === 230025 ? 300305 : problem.code };
      }, elementId);
    }
    m = /^\/open-apis\/cardkit\/v1\/cards\/([^/]+)\/elements\/([^/]+)$/.exec(path);
    if (method === 'PUT' && m) {
      const elementId = m[2]!;
      return this.cardOp(m[1]!, body, 'element', (card) => {
        const list = elementList(card.card, elementId);
        if (!list) return { code: 300313, msg: `element ${elementId} not found` };
        const next = JSON.parse(String(body.element ?? '{}')) as Record<string, unknown>;
        const before = structuredClone(card.card);
        list.splice(list.findIndex((e) => e.element_id === elementId), 1, next);
        const problem = checkEntity(JSON.stringify(card.card), card.card);
        if (problem) card.card = before;
        return problem;
      }, elementId);
    }
    return { status: 404, body: { code: 404, msg: `fake Feishu does not serve ${method} ${path}` } };
  }

  private createCard(body: Record<string, unknown>): Answer {
    if (body.type !== 'card_json' || typeof body.data !== 'string') return { status: 400, body: { code: 300315, msg: 'type must be card_json with data' } };
    let card: Record<string, unknown>;
    try {
      card = JSON.parse(body.data) as Record<string, unknown>;
    } catch {
      return { status: 400, body: { code: 300315, msg: 'invalid card json' } };
    }
    const problem = checkEntity(body.data, card);
    if (problem) return { status: 400, body: problem };
    const id = `7${String(++this.seq).padStart(18, '0')}`;
    const streaming = (card.config as { streaming_mode?: boolean } | undefined)?.streaming_mode === true;
    this.cards.set(id, { card_id: id, card, streaming, streamingSince: Date.now(), timedOut: false, timeoutReported: false, ops: [], settings: [], uuids: new Set() });
    return { status: 200, body: { code: 0, msg: 'success', data: { card_id: id } } };
  }

  /**
   * One operation on a card entity: at most CARD_OPS_PER_S a second per card (refused with 230020, the frequency
   * limit; the code CardKit uses is UNCONFIRMED), `sequence` strictly above the card's last (300317), a repeated
   * uuid taking effect once. `apply` returns the refusal, if any.
   */
  private cardOp(cardId: string, body: Record<string, unknown>, kind: FakeCard['ops'][number]['kind'], apply: (card: FakeCard) => { code: number; msg: string } | undefined, elementId?: string): Answer {
    const card = this.cards.get(cardId);
    if (!card) return { status: 400, body: { code: 300301, msg: 'card not found (fake)' } };
    const uuid = typeof body.uuid === 'string' ? body.uuid : undefined;
    if (uuid && card.uuids.has(uuid)) return { status: 200, body: { code: 0, msg: 'success', data: {} } };
    if (!this.allow(`card:${cardId}`, CARD_OPS_PER_S)) return { status: 400, body: { code: 230020, msg: 'This operation triggers the frequency limit.' } };
    const sequence = body.sequence;
    const last = card.ops.at(-1)?.sequence ?? 0;
    if (typeof sequence !== 'number' || !Number.isInteger(sequence) || sequence < 1 || sequence > MAX_SEQUENCE || sequence <= last) {
      return { status: 400, body: { code: 300317, msg: 'sequence number compare failed' } };
    }
    if (card.streaming && Date.now() - card.streamingSince >= this.streamingCloseMs) {
      card.streaming = false;
      card.timedOut = true;
    }
    const problem = apply(card);
    if (problem) return { status: 400, body: problem };
    card.ops.push({ kind, sequence, at: Date.now(), ...(elementId ? { elementId } : {}) });
    if (uuid) card.uuids.add(uuid);
    const msg = card.messageId ? this.messages.get(card.messageId) : undefined;
    if (msg) {
      msg.content = structuredClone(card.card);
      msg.history.push(msg.content);
    }
    return { status: 200, body: { code: 0, msg: 'success', data: {} } };
  }

  private async upload(req: IncomingMessage, raw: Buffer): Promise<Answer> {
    const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': req.headers['content-type'] ?? '' } }).formData();
    const file = form.get('file');
    // axios sends a Buffer as a part without a filename, which a form parser reads as a text field.
    const content = file instanceof Blob ? Buffer.from(await file.arrayBuffer()) : Buffer.from(file ?? '', 'utf8');
    if (content.length === 0) return { status: 400, body: { code: 234001, msg: 'file is empty' } };
    const key = `file_v3_${++this.seq}`;
    this.files.set(key, { name: String(form.get('file_name')), content });
    return { status: 200, body: { code: 0, msg: 'success', data: { file_key: key } } };
  }

  private allow(key: string, perSecond: number): boolean {
    const now = Date.now();
    const recent = (this.hits.get(key) ?? []).filter((t) => now - t < 1000);
    if (recent.length >= perSecond) return false;
    recent.push(now);
    this.hits.set(key, recent);
    return true;
  }

  /**
   * A webhook push as its raw body and headers, to send with post() (again, for a replay): encrypted and signed
   * like deliver(), or in plaintext with the verification token when `encryptKey` is ''. `timestamp` is in
   * seconds (now by default); null leaves the header out.
   */
  webhookRequest(payload: unknown, opts: { encryptKey?: string; timestamp?: number | null } = {}): { body: string; headers: Record<string, string> } {
    const key = opts.encryptKey ?? ENCRYPT_KEY;
    const body = key ? JSON.stringify({ encrypt: encrypt(JSON.stringify(payload), key) }) : JSON.stringify(payload);
    const ts = opts.timestamp === undefined ? String(Math.floor(Date.now() / 1000)) : opts.timestamp === null ? '' : String(opts.timestamp);
    const nonce = randomBytes(8).toString('hex');
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-lark-request-nonce': nonce };
    if (ts) headers['x-lark-request-timestamp'] = ts;
    if (key) headers['x-lark-signature'] = createHash('sha256').update(ts + nonce + key + body).digest('hex');
    return { body, headers };
  }

  /** POSTs a request to the webhook as given; resolves with the answer. */
  async post(endpoint: string, request: { body: string; headers: Record<string, string> }): Promise<{ status: number; body: string }> {
    const res = await fetch(endpoint, { method: 'POST', headers: request.headers, body: request.body });
    return { status: res.status, body: await res.text() };
  }
}

/** The verification token in the events the fake builds (envelope()). */
export const VERIFICATION_TOKEN = 'vtoken';

/** The reply API's answer for a message sent (the documented `data` fields the fake keeps). */
function sent(m: FakeFeishuMessage): Answer {
  const data = { message_id: m.message_id, root_id: m.root_id, parent_id: m.parent_id, thread_id: m.thread_id, chat_id: m.chat_id, msg_type: m.msg_type, deleted: false, updated: false };
  return { status: 200, body: { code: 0, msg: 'success', data } };
}

/** The refusal Feishu gives a card, or undefined: JSON 2.0, at most 30 KB, at most three tables. */
function checkCard(raw: string, card: Record<string, unknown>): { code: number; msg: string } | undefined {
  if (Buffer.byteLength(raw) > CARD_MAX_BYTES) return { code: 230025, msg: 'The message content exceeds the length limit.' };
  const body = card.body as { elements?: unknown[] } | undefined;
  if (card.schema !== '2.0' || !Array.isArray(body?.elements)) return { code: 230099, msg: 'Failed to create card content, ext=ErrCode: 200621; ErrMsg: parse card json err' };
  const tables = markdownOf(card).reduce((n, md) => n + new Lexer().lex(md).filter((t) => t.type === 'table').length, 0);
  if (tables > TABLES_PER_CARD) return { code: 230099, msg: 'Failed to create card content, ext=ErrCode: 11310; ErrMsg: card table number over limit' };
  return undefined;
}

/** A card entity's refusal, or undefined: the card rules plus those of CardKit (update_multi, element ids). */
function checkEntity(raw: string, card: Record<string, unknown>): { code: number; msg: string } | undefined {
  const problem = checkCard(raw, card);
  if (problem) return problem;
  if ((card.config as { update_multi?: boolean } | undefined)?.update_multi === false) return { code: 300315, msg: 'update_multi false is not supported for card entities' };
  const ids = nodes(card).flatMap((n) => (n.element_id === undefined ? [] : [String(n.element_id)]));
  const bad = ids.find((id) => !ELEMENT_ID.test(id));
  if (bad !== undefined) return { code: 300315, msg: `invalid element_id ${bad}` };
  if (new Set(ids).size !== ids.length) return { code: 300315, msg: 'duplicate element_id' };
  return undefined;
}

/** The element with `id`, anywhere in the card. */
function elementById(card: unknown, id: string): Record<string, unknown> | undefined {
  return nodes(card).find((n) => n.element_id === id);
}

/** The array that holds the element with `id`. */
function elementList(card: unknown, id: string): Record<string, unknown>[] | undefined {
  for (const n of nodes(card)) {
    for (const v of Object.values(n)) if (Array.isArray(v) && v.some((e) => (e as Record<string, unknown>)?.element_id === id)) return v as Record<string, unknown>[];
  }
  return undefined;
}

/** Every object in a card, depth first. */
function nodes(node: unknown): Record<string, unknown>[] {
  if (!node || typeof node !== 'object') return [];
  if (Array.isArray(node)) return node.flatMap(nodes);
  return [node as Record<string, unknown>, ...Object.values(node).flatMap(nodes)];
}

/** The content of every markdown element in a card. */
export function markdownOf(card: unknown): string[] {
  return nodes(card).flatMap((n) => (n.tag === 'markdown' && typeof n.content === 'string' ? [n.content] : []));
}

/** Every text a person sees in a card: markdown and plain_text contents, and the header. */
export function cardText(card: Record<string, unknown>): string {
  return nodes(card)
    .flatMap((n) => (typeof n.content === 'string' ? [n.content] : []))
    .join('\n');
}

function findButtons(card: unknown): Record<string, unknown>[] {
  return nodes(card).filter((n) => n.tag === 'button');
}

export function encrypt(plaintext: string, key: string): string {
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-cbc', createHash('sha256').update(key).digest(), iv);
  return Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final()]).toString('base64');
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

let feedbackClicks = 0;

/**
 * A click on one of the feedback buttons (👍 `good`, 👎 `bad`) of a bot's card, shaped like the recorded
 * schema-2.0 button callback (test/fixtures/samples/feishu/events/card.action.trigger.button.json).
 */
export function feedbackClick(feishu: FakeFeishu, messageId: string, verdict: 'good' | 'bad', opts: { user?: string } = {}): Record<string, unknown> {
  const msg = feishu.messages.get(messageId);
  if (!msg) throw new Error(`no message ${messageId}`);
  const button = findButtons(msg.content).find((b) => {
    const value = (b.behaviors as { value?: { a?: string; v?: string } }[] | undefined)?.[0]?.value;
    return value?.a === 'feedback' && value.v === verdict;
  });
  if (!button) throw new Error(`message ${messageId} has no ${verdict} feedback button`);
  return feishu.envelope('card.action.trigger', {
    operator: { tenant_key: TENANT, open_id: opts.user ?? 'ou_alice', union_id: 'on_u' },
    token: `c-feedback-${++feedbackClicks}`,
    action: { tag: 'button', value: (button.behaviors as { value: unknown }[])[0]!.value, options: [], checked: false },
    host: 'im_message',
    context: { open_message_id: messageId, open_chat_id: msg.chat_id },
  });
}

// ---- docx documents and drive permissions ------------------------------------------------------------------------

/** Feishu's refusal when the app lacks a scope (generic error code 99991672). */
function scopeRefusal(scopes: string): Answer {
  return { status: 400, body: { code: 99991672, msg: `Access denied. One of the following scopes is required: [${scopes}]. 应用尚未开通所需的应用身份权限` } };
}
const invalid = (msg: string): Answer => ({ status: 400, body: { code: 1770001, msg: `invalid param: ${msg}` } });

/** A block as the fake keeps it: its real id, parent, children and content. */
export interface FakeBlock {
  block_id: string;
  parent_id: string;
  block_type: number;
  children: string[];
  [content: string]: unknown;
}

export interface FakeDoc {
  document_id: string;
  title: string;
  folder_token?: string;
  /** Every block by id; the page block's id is the document's. */
  blocks: Map<string, FakeBlock>;
  /** Collaborators added through the drive permission API. */
  members: Record<string, unknown>[];
  /** The public (link) settings as last patched. */
  public: Record<string, unknown>;
  /** The number of blocks of each accepted descendant insert, in order. */
  inserts: number[];
  answers: Map<string, Answer>;
}

/** Block types the fake accepts, with the key their content goes under (docx block data structure). */
const BLOCK_KEYS: Record<number, string> = {
  2: 'text', 3: 'heading1', 4: 'heading2', 5: 'heading3', 6: 'heading4', 7: 'heading5', 8: 'heading6', 9: 'heading7', 10: 'heading8', 11: 'heading9',
  12: 'bullet', 13: 'ordered', 14: 'code', 15: 'quote', 17: 'todo', 22: 'divider', 31: 'table', 32: 'table_cell', 34: 'quote_container',
};
/** Block types whose content has text elements. */
const TEXT_TYPES = new Set([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17]);
/** Blocks per descendant insert ("单次调用创建嵌套块接口最多可插入 1000 个块"). */
export const DOCX_DESCENDANTS_MAX = 1000;
/** Document creation and block edits per second per app (SDK docstrings: 400 / 99991400 above it). */
const DOCX_EDITS_PER_S = 3;

/**
 * The docx and drive endpoints a report document takes, answered as documented: create a document, insert blocks
 * with the descendant API (at most 1000 a request, table cells with at least one child, no read-only merge_info,
 * client_token idempotency), add a chat as a collaborator, patch the public link setting, batch-query the URL.
 * `refuseDocx` / `refuseDrive`: answer as an app without the docx:document / drive:drive scopes.
 */
export class FakeDocx {
  readonly docs = new Map<string, FakeDoc>();
  refuseDocx = false;
  refuseDrive = false;
  private seq = 0;

  route(method: string, url: URL, raw: string, allow: (key: string, perSecond: number) => boolean): Answer {
    const body = (raw ? JSON.parse(raw) : {}) as Record<string, unknown>;
    const path = url.pathname;
    if (path.startsWith('/open-apis/docx/')) {
      if (this.refuseDocx) return scopeRefusal('docx:document, docx:document:create');
      if (!allow('docx-app', DOCX_EDITS_PER_S)) return { status: 400, body: { code: 99991400, msg: 'request trigger frequency limit' } };
      if (method === 'POST' && path === '/open-apis/docx/v1/documents') return this.create(body);
      const m = /^\/open-apis\/docx\/v1\/documents\/([^/]+)\/blocks\/([^/]+)\/descendant$/.exec(path);
      if (method === 'POST' && m) {
        if (!allow(`docx-doc:${m[1]}`, DOCX_EDITS_PER_S)) return { status: 429, body: { code: 99991400, msg: 'document edit frequency limit' } };
        return this.insert(m[1]!, m[2]!, url.searchParams, body);
      }
    }
    if (path.startsWith('/open-apis/drive/')) {
      if (this.refuseDrive) return scopeRefusal('drive:drive, docs:permission.member:create');
      let m = /^\/open-apis\/drive\/v1\/permissions\/([^/]+)\/members$/.exec(path);
      if (method === 'POST' && m) return this.addMember(m[1]!, url.searchParams, body);
      m = /^\/open-apis\/drive\/v2\/permissions\/([^/]+)\/public$/.exec(path);
      if (method === 'PATCH' && m) {
        const doc = this.docs.get(m[1]!);
        if (!doc || url.searchParams.get('type') !== 'docx') return { status: 400, body: { code: 1063001, msg: 'Invalid parameter' } };
        doc.public = { ...doc.public, ...body };
        return { status: 200, body: { code: 0, msg: 'success', data: { permission_public: doc.public } } };
      }
      if (method === 'POST' && path === '/open-apis/drive/v1/metas/batch_query') {
        const docs = (body.request_docs as { doc_token: string; doc_type: string }[] | undefined) ?? [];
        const metas = docs.flatMap((d) => {
          const doc = this.docs.get(d.doc_token);
          return doc ? [{ doc_token: d.doc_token, doc_type: d.doc_type, title: doc.title, owner_id: 'ou_app', create_time: '0', latest_modify_user: 'ou_app', latest_modify_time: '0', url: body.with_url ? `https://fake-tenant.feishu.cn/docx/${d.doc_token}` : '' }] : [];
        });
        return { status: 200, body: { code: 0, msg: 'success', data: { metas, failed_list: [] } } };
      }
    }
    return { status: 404, body: { code: 404, msg: `fake Feishu does not serve ${method} ${path}` } };
  }

  /** A document's blocks in document order (the page block left out). */
  blocksOf(documentId: string): FakeBlock[] {
    const doc = this.docs.get(documentId);
    if (!doc) return [];
    const walk = (id: string): FakeBlock[] => doc.blocks.get(id)!.children.flatMap((c) => [doc.blocks.get(c)!, ...walk(c)]);
    return walk(documentId);
  }

  /** The text of one block (its elements' contents joined). */
  static text(block: FakeBlock): string {
    const key = BLOCK_KEYS[block.block_type];
    const elements = (block[key ?? ''] as { elements?: { text_run?: { content?: string } }[] } | undefined)?.elements ?? [];
    return elements.map((e) => e.text_run?.content ?? '').join('');
  }

  /** Each table of a document as rows of cell texts. */
  tablesOf(documentId: string): string[][][] {
    const doc = this.docs.get(documentId)!;
    return this.blocksOf(documentId)
      .filter((b) => b.block_type === 31)
      .map((t) => {
        const { column_size } = (t.table as { property: { column_size: number } }).property;
        const cells = t.children.map((c) => doc.blocks.get(c)!.children.map((x) => FakeDocx.text(doc.blocks.get(x)!)).join('\n'));
        return Array.from({ length: cells.length / column_size }, (_, r) => cells.slice(r * column_size, (r + 1) * column_size));
      });
  }

  private create(body: Record<string, unknown>): Answer {
    const id = `doxcn${String(++this.seq).padStart(22, '0')}`;
    const title = typeof body.title === 'string' ? body.title : '';
    const page: FakeBlock = { block_id: id, parent_id: '', block_type: 1, children: [], page: { elements: [{ text_run: { content: title } }] } };
    this.docs.set(id, {
      document_id: id,
      title,
      folder_token: typeof body.folder_token === 'string' ? body.folder_token : undefined,
      blocks: new Map([[id, page]]),
      members: [],
      public: { link_share_entity: 'closed' },
      inserts: [],
      answers: new Map(),
    });
    return { status: 200, body: { code: 0, msg: 'success', data: { document: { document_id: id, revision_id: 1, title } } } };
  }

  private insert(documentId: string, parentId: string, params: URLSearchParams, body: Record<string, unknown>): Answer {
    const doc = this.docs.get(documentId);
    if (!doc) return { status: 404, body: { code: 1770002, msg: 'not found' } };
    const parent = doc.blocks.get(parentId);
    if (!parent) return { status: 404, body: { code: 1770002, msg: 'not found' } };
    const token = params.get('client_token');
    const earlier = token ? doc.answers.get(token) : undefined;
    if (earlier) return earlier;
    const top = body.children_id as unknown;
    const descendants = body.descendants as Record<string, unknown>[] | undefined;
    if (!Array.isArray(top) || top.length === 0 || !Array.isArray(descendants) || descendants.length === 0) return invalid('children_id and descendants are required');
    if (descendants.length > DOCX_DESCENDANTS_MAX) return invalid(`at most ${DOCX_DESCENDANTS_MAX} blocks per request, got ${descendants.length}`);
    const byTemp = new Map<string, Record<string, unknown>>();
    for (const d of descendants) {
      if (typeof d.block_id !== 'string' || byTemp.has(d.block_id)) return { status: 400, body: { code: 1770019, msg: 'repeated blockID in document' } };
      byTemp.set(d.block_id, d);
    }
    // Every block once, reached from children_id through children.
    const seen = new Set<string>();
    const visit = (id: unknown): string | undefined => {
      if (typeof id !== 'string' || !byTemp.has(id)) return `unknown block ${String(id)}`;
      if (seen.has(id)) return `block ${id} has two parents`;
      seen.add(id);
      for (const c of (byTemp.get(id)!.children as unknown[] | undefined) ?? []) {
        const problem = visit(c);
        if (problem) return problem;
      }
      return undefined;
    };
    for (const id of top) {
      const problem = visit(id);
      if (problem) return invalid(problem);
    }
    if (seen.size !== byTemp.size) return invalid('a descendant is not reached from children_id');
    for (const d of descendants) {
      const problem = checkBlock(d, byTemp);
      if (problem) return problem;
    }
    const index = typeof body.index === 'number' ? body.index : -1;
    if (!Number.isInteger(index) || index < -1 || index > parent.children.length) return invalid(`index ${index} out of range`);
    const real = new Map([...byTemp.keys()].map((t) => [t, `doxcn${String(++this.seq).padStart(22, '0')}`]));
    const place = (temp: string, parentReal: string): FakeBlock => {
      const d = byTemp.get(temp)!;
      const block = { ...structuredClone(d), block_id: real.get(temp)!, parent_id: parentReal, children: [] } as unknown as FakeBlock;
      doc.blocks.set(block.block_id, block);
      block.children = ((d.children as string[] | undefined) ?? []).map((c) => place(c, block.block_id).block_id);
      return block;
    };
    const added = (top as string[]).map((t) => place(t, parentId));
    parent.children.splice(index === -1 ? parent.children.length : index, 0, ...added.map((b) => b.block_id));
    doc.inserts.push(descendants.length);
    const answer: Answer = {
      status: 200,
      body: {
        code: 0,
        msg: 'success',
        data: {
          children: added,
          document_revision_id: doc.inserts.length + 1,
          client_token: token ?? '',
          block_id_relations: [...real].map(([temporary_block_id, block_id]) => ({ temporary_block_id, block_id })),
        },
      },
    };
    if (token) doc.answers.set(token, answer);
    return answer;
  }

  private addMember(token: string, params: URLSearchParams, body: Record<string, unknown>): Answer {
    const doc = this.docs.get(token);
    if (!doc || params.get('type') !== 'docx') return { status: 400, body: { code: 1063001, msg: 'Invalid parameter' } };
    const idOk = body.member_type === 'openchat' ? /^oc_/.test(String(body.member_id)) : /^ou_/.test(String(body.member_id));
    if (!idOk || !['view', 'edit', 'full_access'].includes(String(body.perm))) return { status: 400, body: { code: 1063001, msg: 'Invalid parameter' } };
    doc.members.push({ ...body, need_notification: params.get('need_notification') });
    return { status: 200, body: { code: 0, msg: 'success', data: { member: body } } };
  }
}

/** The refusal of a block Feishu would not take, or undefined. */
function checkBlock(d: Record<string, unknown>, byTemp: Map<string, Record<string, unknown>>): Answer | undefined {
  const type = d.block_type as number;
  const key = BLOCK_KEYS[type];
  if (!key || d[key] === undefined) return { status: 400, body: { code: 1770006, msg: `schema mismatch: block type ${type} without ${key ?? 'a known content key'}` } };
  const children = (d.children as string[] | undefined) ?? [];
  if (TEXT_TYPES.has(type)) {
    const elements = (d[key] as { elements?: unknown[] }).elements;
    if (!Array.isArray(elements) || elements.length === 0) return invalid(`${key}.elements is required`);
    for (const e of elements as { text_run?: { content?: unknown; text_element_style?: { link?: { url?: string } } } }[]) {
      if (typeof e.text_run?.content !== 'string') return invalid('only text_run elements with content');
      const link = e.text_run.text_element_style?.link?.url;
      // Link URLs are written percent-encoded.
      if (link !== undefined && (/[:/?#]/.test(link) || !/^https?:\/\//.test(decodeURIComponent(link)))) return invalid(`link url ${link} is not an encoded http(s) URL`);
    }
  }
  if (type === 31) {
    const property = (d.table as { property?: Record<string, unknown> }).property;
    if (!property || property.merge_info !== undefined) return invalid('table.property is required and merge_info is read-only');
    const rows = property.row_size as number;
    const cols = property.column_size as number;
    if (!(rows > 0 && cols > 0) || children.length !== rows * cols) return invalid('a table has row_size × column_size cells');
    if (children.some((c) => byTemp.get(c)?.block_type !== 32)) return invalid('a table holds table cells only');
  }
  if (type === 32 && children.length === 0) return invalid('a table cell needs at least one child block');
  return undefined;
}
