import { randomUUID } from 'node:crypto';
import * as lark from '@larksuiteoapi/node-sdk';
import PQueue from 'p-queue';
import type { Logger } from '../../core/ports/logger.js';
import { PlatformStats } from '../../core/ports/chat.js';
import { SharedBudget } from '../shared-budget.js';

/** Token codes after which the cached tenant_access_token is dropped and the call retried once. */
const TOKEN_CODES = new Set([99991663, 99991661, 99991668]);
/** App-level rate limit (HTTP 429) and the per-message/per-chat limit of the IM API. */
const RATE_CODES = new Set([99991400, 230020]);
const MAX_RATE_RETRIES = 3;
/** Feishu allows 1000 calls per minute per API; one budget for all of ours stays under it. */
const CALLS_PER_SECOND = 15;
/**
 * CardKit calls (1000 per minute and 50 per second per API) have a budget of their own, so that streaming
 * progress cards never holds up a report's replies.
 */
const CARDKIT_CALLS_PER_SECOND = 15;
const REQUEST_TIMEOUT_MS = 30_000;

/** A refusal from the Open API in Feishu's `{code, msg}` form. */
export class FeishuError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly status?: number,
    readonly resetSeconds?: number,
  ) {
    super(`Feishu ${code}: ${message}`);
  }
}

/** A message as the message get API returns it (`body.content` is the JSON-encoded content). */
export interface FeishuMessage {
  message_id?: string;
  msg_type?: string;
  deleted?: boolean;
  chat_id?: string;
  body?: { content?: string };
}

export interface FeishuCredentials {
  appId: string;
  appSecret: string;
  domain: string;
}

/** FEISHU_DOMAIN for the SDK: Feishu (open.feishu.cn), Lark (open.larksuite.com) or a base URL as given. */
export function sdkDomain(domain: string): lark.Domain | string {
  if (domain === 'feishu') return lark.Domain.Feishu;
  if (domain === 'lark') return lark.Domain.Lark;
  return domain.replace(/\/+$/, '');
}

/** The SDK's log lines, without the request bodies and headers it would print (they hold the app secret). */
export function sdkLogger(log: Logger): lark.Logger {
  const summary = (args: unknown[]) =>
    args
      .flat()
      .map((a) => (typeof a === 'string' ? a : (a as { message?: string; code?: number; msg?: string })?.msg ?? (a as Error)?.message ?? ''))
      .filter(Boolean)
      .join(' ')
      .slice(0, 300);
  return {
    error: (...args: unknown[]) => log.warn({ sdk: summary(args) }, 'feishu sdk'),
    warn: (...args: unknown[]) => log.warn({ sdk: summary(args) }, 'feishu sdk'),
    info: (...args: unknown[]) => log.debug({ sdk: summary(args) }, 'feishu sdk'),
    debug: () => {},
    trace: () => {},
  };
}

/**
 * The Open API calls the bot makes, through the SDK's Client. The SDK neither refreshes a rejected token nor
 * retries a rate-limited call, so this does: a token error drops the cached token and retries once; a rate
 * limit waits as the response says (`x-ogw-ratelimit-reset`) and retries. All calls share one budget (CardKit has
 * its own); with a shared budget each also takes a token from the cluster's `feishu:<app>:calls` (or `:cardkit`).
 */
export class FeishuApi {
  readonly client: lark.Client;
  private readonly cache = new lark.DefaultCache();
  private readonly limiter = new PQueue({ intervalCap: CALLS_PER_SECOND, interval: 1000 });
  private readonly cardkitLimiter = new PQueue({ intervalCap: CARDKIT_CALLS_PER_SECOND, interval: 1000 });
  /** Token retries, rate-limit waits and refusals, for metrics. */
  readonly stats = new PlatformStats();

  constructor(
    private readonly settings: FeishuCredentials,
    private readonly log: Logger,
    /** The cluster's budget on top of this process's own (none by default). */
    readonly shared = new SharedBudget(undefined, log),
  ) {
    // The SDK's shared axios instance has no timeout at all; a hung call would hold a report forever.
    lark.defaultHttpInstance.defaults.timeout = REQUEST_TIMEOUT_MS;
    this.client = new lark.Client({
      appId: settings.appId,
      appSecret: settings.appSecret,
      domain: sdkDomain(settings.domain),
      cache: this.cache,
      logger: sdkLogger(log),
      loggerLevel: lark.LoggerLevel.warn,
    });
  }

  async botOpenId(): Promise<string> {
    const res = await this.call<{ bot?: { open_id?: string } }>(() => this.client.request({ method: 'GET', url: '/open-apis/bot/v3/info' }));
    if (!res.bot?.open_id) throw new FeishuError(-1, 'bot info has no open_id; is the bot capability enabled?');
    return res.bot.open_id;
  }

  /** Replies to a message inside its thread (creating the thread at its root); returns the new message's id. */
  /** `idempotencyKey`: the same key for the same message, even after a restart; a fresh one otherwise. */
  async reply(messageId: string, msgType: 'interactive' | 'file' | 'text', content: unknown, idempotencyKey?: string): Promise<string> {
    // One uuid for every attempt of this message, so a retry after a lost answer cannot post it twice.
    const uuid = idempotencyKey ?? randomUUID();
    const res = await this.call<{ data?: { message_id?: string } }>(() =>
      this.client.im.v1.message.reply({
        path: { message_id: messageId },
        data: { msg_type: msgType, content: JSON.stringify(content), reply_in_thread: true, uuid },
      }),
    );
    return res.data?.message_id ?? '';
  }

  /** Replaces a sent card. */
  async patch(messageId: string, card: unknown): Promise<void> {
    await this.call(() => this.client.im.v1.message.patch({ path: { message_id: messageId }, data: { content: JSON.stringify(card) } }));
  }

  // ---- CardKit (card entities; scope cardkit:card:write) ------------------------------------------------------

  /** Creates a card entity from card JSON 2.0; returns its card_id. */
  async createCard(card: unknown): Promise<string> {
    const res = await this.call<{ data?: { card_id?: string } }>(
      () => this.client.cardkit.v1.card.create({ data: { type: 'card_json', data: JSON.stringify(card) } }),
      this.cardkitLimiter,
    );
    if (!res.data?.card_id) throw new FeishuError(-1, 'cardkit card.create returned no card_id');
    return res.data.card_id;
  }

  /** Replies in the thread with a card entity (it can be sent only once); returns the new message's id. */
  async replyCard(messageId: string, cardId: string, idempotencyKey?: string): Promise<string> {
    return this.reply(messageId, 'interactive', { type: 'card', data: { card_id: cardId } }, idempotencyKey);
  }

  /** Streams an element's full text (markdown or plain_text): a text that extends the shown one is typed out. */
  async streamElement(cardId: string, elementId: string, content: string, sequence: number): Promise<void> {
    await this.call(
      () => this.client.cardkit.v1.cardElement.content({ path: { card_id: cardId, element_id: elementId }, data: { content, sequence, uuid: opUuid('c', cardId, sequence) } }),
      this.cardkitLimiter,
    );
  }

  /** Replaces one element of a card entity. */
  async updateElement(cardId: string, elementId: string, element: unknown, sequence: number): Promise<void> {
    await this.call(
      () =>
        this.client.cardkit.v1.cardElement.update({
          path: { card_id: cardId, element_id: elementId },
          data: { element: JSON.stringify(element), sequence, uuid: opUuid('e', cardId, sequence) },
        }),
      this.cardkitLimiter,
    );
  }

  /** Replaces a whole card entity. */
  async updateCard(cardId: string, card: unknown, sequence: number): Promise<void> {
    await this.call(
      () => this.client.cardkit.v1.card.update({ path: { card_id: cardId }, data: { card: { type: 'card_json', data: JSON.stringify(card) }, sequence, uuid: opUuid('u', cardId, sequence) } }),
      this.cardkitLimiter,
    );
  }

  /** Changes a card entity's config, e.g. `{streaming_mode: false, summary}` once it is finished. */
  async cardSettings(cardId: string, config: Record<string, unknown>, sequence: number): Promise<void> {
    await this.call(
      () => this.client.cardkit.v1.card.settings({ path: { card_id: cardId }, data: { settings: JSON.stringify({ config }), sequence, uuid: opUuid('s', cardId, sequence) } }),
      this.cardkitLimiter,
    );
  }

  /** The card entity behind a sent card message (for a card posted before a restart). */
  async cardIdOf(messageId: string): Promise<string> {
    const res = await this.call<{ data?: { card_id?: string } }>(() => this.client.cardkit.v1.card.idConvert({ data: { message_id: messageId } }), this.cardkitLimiter);
    if (!res.data?.card_id) throw new FeishuError(-1, 'cardkit id_convert returned no card_id');
    return res.data.card_id;
  }

  /** A message as Feishu keeps it (im/v1 message get): its type and content, or undefined when it has none. */
  async getMessage(messageId: string): Promise<FeishuMessage | undefined> {
    const res = await this.call<{ data?: { items?: FeishuMessage[] } }>(() => this.client.im.v1.message.get({ path: { message_id: messageId } }));
    return res.data?.items?.[0];
  }

  /** The tenant_access_token the SDK holds (`fresh`: a new one, the cached one having been refused). */
  async tenantToken(fresh = false): Promise<string> {
    if (fresh) {
      this.stats.tokenRefreshes++;
      await this.cache.set(lark.CTenantAccessToken, '', 0, { namespace: this.settings.appId });
    }
    return String(await this.client.tokenManager.getTenantAccessToken());
  }

  /** The Open API's base URL (`https://open.feishu.cn`, or the one configured). */
  get baseUrl(): string {
    return this.client.domain;
  }

  get appId(): string {
    return this.settings.appId;
  }

  /** Runs `fn` within the shared call budget (for calls made outside the SDK, such as downloads). */
  throttled<T>(fn: () => Promise<T>): Promise<T> {
    return this.limiter.add(this.sharedTurn(this.limiter, fn)) as Promise<T>;
  }

  /** `fn` once the cluster's bucket of `limiter` gave it a token too (at once without a shared budget). */
  private sharedTurn<T>(limiter: PQueue, fn: () => Promise<T>): () => Promise<T> {
    if (!this.shared.shared) return fn;
    const perSecond = limiter === this.cardkitLimiter ? CARDKIT_CALLS_PER_SECOND : CALLS_PER_SECOND;
    return async () => {
      await this.shared.acquire(this.sharedBucket(limiter), perSecond * 60, perSecond);
      return fn();
    };
  }

  private sharedBucket(limiter: PQueue): string {
    return `feishu:${this.settings.appId}:${limiter === this.cardkitLimiter ? 'cardkit' : 'calls'}`;
  }

  async uploadFile(fileName: string, content: Buffer): Promise<string> {
    const res = await this.call<{ file_key?: string } | null>(() =>
      this.client.im.v1.file.create({ data: { file_type: 'stream', file_name: fileName, file: content } }),
    );
    if (!res?.file_key) throw new FeishuError(-1, 'file upload returned no file_key');
    return res.file_key;
  }

  /** One SDK call with the retries above, within `limiter`'s budget (by default the shared one). */
  async call<T>(fn: () => Promise<unknown>, limiter: PQueue = this.limiter): Promise<T> {
    let tokenRetried = false;
    for (let attempt = 0; ; attempt++) {
      try {
        const res = (await limiter.add(this.sharedTurn(limiter, fn))) as { code?: number; msg?: string } | null;
        if (res && typeof res.code === 'number' && res.code !== 0) throw new FeishuError(res.code, res.msg ?? '', 200);
        return res as T;
      } catch (err) {
        const e = toFeishuError(err);
        if (TOKEN_CODES.has(e.code) && !tokenRetried) {
          tokenRetried = true;
          this.stats.tokenRefreshes++;
          await this.cache.set(lark.CTenantAccessToken, '', 0, { namespace: this.settings.appId });
          this.log.info({ code: e.code }, 'feishu token rejected; fetching a new one');
          continue;
        }
        const transient = e.status === undefined || e.status >= 500;
        if (transient && attempt < MAX_RATE_RETRIES) {
          this.log.warn({ code: e.code, status: e.status }, 'feishu unavailable; retrying');
          await new Promise((r) => setTimeout(r, 500 * 3 ** attempt));
          continue;
        }
        if ((RATE_CODES.has(e.code) || e.status === 429) && attempt < MAX_RATE_RETRIES) {
          this.stats.rateLimited++;
          const waitMs = Math.min(60, e.resetSeconds ?? 2 ** attempt) * 1000;
          this.log.warn({ code: e.code, waitMs }, 'feishu rate limit; waiting');
          // The app's limit (not a message's or a chat's, 230020): every process holds back its calls.
          if (e.status === 429 || e.code === 99991400) this.shared.pause(this.sharedBucket(limiter), waitMs);
          await new Promise((r) => setTimeout(r, waitMs));
          continue;
        }
        this.stats.error(e.code);
        throw e;
      }
    }
  }
}

/**
 * The idempotency key of one CardKit operation: every attempt of the operation (a retry after a lost answer)
 * carries the same one, so it takes effect once.
 */
function opUuid(kind: string, cardId: string, sequence: number): string {
  return `${kind}_${cardId}_${sequence}`.slice(0, 64);
}

/** Any failure of an SDK call as a FeishuError: the body's `{code,msg}` when there is one, else the HTTP status. */
export function toFeishuError(err: unknown): FeishuError {
  if (err instanceof FeishuError) return err;
  const e = err as { response?: { status?: number; data?: { code?: number; msg?: string }; headers?: Record<string, string> }; message?: string };
  const reset = Number(e.response?.headers?.['x-ogw-ratelimit-reset']);
  return new FeishuError(
    e.response?.data?.code ?? -(e.response?.status ?? 1),
    e.response?.data?.msg ?? e.message ?? 'request failed',
    e.response?.status,
    Number.isFinite(reset) && reset >= 0 ? reset : undefined,
  );
}
