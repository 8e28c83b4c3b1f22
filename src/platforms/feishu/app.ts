import type { IncomingMessage, ServerResponse } from 'node:http';
import * as lark from '@larksuiteoapi/node-sdk';
import type { Logger } from '../../core/ports/logger.js';
import type { Inbound } from '../../core/ports/chat.js';
import type { SharedRate } from '../../core/ports/rate.js';
import { SharedBudget } from '../shared-budget.js';
import { feedbackToast } from './cards.js';
import { FeishuApi, sdkDomain, sdkLogger, toFeishuError, type FeishuCredentials } from './api.js';
import { fromCardAction, fromMessage, MAX_MESSAGE_AGE_MS, messageAgeMs, type CardActionEvent, type MessageEvent } from './inbound.js';
import { CardPatcher } from './patcher.js';
import { FeishuResources } from './resources.js';
import { FeishuPlatform, type CardKitSettings } from './outbound.js';
import { webhookHandler } from './webhook.js';

export interface FeishuSettings extends FeishuCredentials {
  connection: 'websocket' | 'webhook';
  encryptKey?: string;
  verificationToken?: string;
  /** FEISHU_DOC_SHARE and FEISHU_DOC_FOLDER_TOKEN: how the report's document is shared, and where it is created. */
  docShare?: 'chat' | 'tenant';
  docFolderToken?: string;
}

/** The long connection as the bot uses it; tests replace the SDK's WSClient with one that invokes the dispatcher. */
export interface LongConnection {
  start(dispatcher: lark.EventDispatcher): Promise<void>;
  stop(): void;
  connected(): boolean;
}

export interface FeishuOptions {
  handle: (inbound: Inbound) => Promise<void>;
  log: Logger;
  patchIntervalMs?: number;
  longConnection?: LongConnection;
  /** CardKit streaming progress cards: on by default; `{enabled: false}` keeps today's patched cards only. */
  cardkit?: Partial<CardKitSettings>;
  /**
   * The rate budget shared by all processes of a deployment: calls then also take from the cluster-wide buckets
   * `feishu:<app>:calls`, `feishu:<app>:cardkit` and `feishu:<app>:patch:<message id>` (same limits as each
   * process's own). Without it each process keeps its own budgets only.
   */
  sharedRate?: SharedRate;
}

export interface FeishuConnection {
  platform: FeishuPlatform;
  api: FeishuApi;
  patcher: CardPatcher;
  dispatcher: lark.EventDispatcher;
  /** Webhook mode: the handler for POST /feishu/events (events and card callbacks). */
  requestListener?: (req: IncomingMessage, res: ServerResponse) => void;
  start(): Promise<void>;
  stop(): Promise<void>;
  connected(): boolean;
}

/**
 * node-sdk wiring: the long connection (WSClient) by default, or the webhook. Both deliver into one
 * EventDispatcher whose handlers only enqueue and return, because the SDK acknowledges an event only when
 * its handler resolves and Feishu redelivers after 3 s.
 */
export function createFeishu(settings: FeishuSettings, opts: FeishuOptions): FeishuConnection {
  const log = opts.log.child({ platform: 'feishu' });
  // The cluster's budget on top of each process's own (none without sharedRate; local only while it is unreachable).
  const api = new FeishuApi(settings, log, new SharedBudget(opts.sharedRate, log));
  const patcher = new CardPatcher(api, log, opts.patchIntervalMs);
  const resources = new FeishuResources(api, log);
  const platform = new FeishuPlatform(api, patcher, log, opts.cardkit, { share: settings.docShare ?? 'chat', folderToken: settings.docFolderToken, domain: settings.domain }, resources);
  // Known once start() asked Feishu; events that arrive before wait for it.
  let setBotOpenId: (id: string) => void = () => {};
  const botOpenId = new Promise<string>((resolve) => (setBotOpenId = resolve));
  let running = false;

  const dispatch = (toInbound: (botOpenId: string) => Inbound | undefined | Promise<Inbound | undefined>) => {
    void botOpenId
      .then(async (id) => {
        const inbound = await toInbound(id);
        return inbound && opts.handle(inbound);
      })
      .catch((err: unknown) => log.error({ err }, 'handling failed'));
  };
  const dispatcher = new lark.EventDispatcher({
    encryptKey: settings.encryptKey,
    verificationToken: settings.verificationToken,
    logger: sdkLogger(log),
    loggerLevel: lark.LoggerLevel.warn,
  }).register({
    'im.message.receive_v1': async (data) => {
      const event = data as unknown as MessageEvent;
      // A message older than the bot's memory of ids could be a late redelivery or a replay it cannot recognise.
      const age = messageAgeMs(event);
      if (age !== undefined && age > MAX_MESSAGE_AGE_MS) {
        log.debug({ ageMinutes: Math.round(age / 60_000) }, 'message too old, not taken');
        return;
      }
      // Requests, replies and messages the bot cannot read (answered with a notice) alike.
      // A mention in a thread takes along the pictures and files of the thread's root (looked up after the ack).
      dispatch((id) => {
        const inbound = fromMessage(event, id);
        return inbound && resources.withLinked(event, inbound);
      });
    },
    'card.action.trigger': async (data: unknown) => {
      // Found by the card's message id (the value's thread is only a hint): form submits carry no value.
      const inbound = fromCardAction(data as CardActionEvent);
      dispatch(() => inbound);
      // A feedback click is answered with a toast, so the person sees it was taken.
      return inbound?.kind === 'feedback' ? feedbackToast(inbound.value) : {};
    },
  } as Record<string, (data: unknown) => Promise<unknown>>);

  const longConnection = settings.connection === 'websocket' ? (opts.longConnection ?? sdkLongConnection(settings, log)) : undefined;
  return {
    platform,
    api,
    patcher,
    dispatcher,
    requestListener: settings.connection === 'webhook' ? webhookHandler(dispatcher, settings) : undefined,
    async start() {
      try {
        setBotOpenId(await api.botOpenId());
      } catch (err) {
        const e = toFeishuError(err);
        throw new Error(`Feishu refused the app credentials or bot info (${e.code}: ${e.message}). Check FEISHU_APP_ID, FEISHU_APP_SECRET and FEISHU_DOMAIN, and that the app has the bot capability.`);
      }
      await longConnection?.start(dispatcher);
      running = true;
    },
    async stop() {
      running = false;
      longConnection?.stop();
      await platform.drained(5000);
      platform.stop();
      patcher.stop();
    },
    connected: () => running && (longConnection?.connected() ?? true),
  };
}

function sdkLongConnection(settings: FeishuSettings, log: Logger): LongConnection {
  let state: 'idle' | 'connected' | 'lost' = 'idle';
  const ws = new lark.WSClient({
    appId: settings.appId,
    appSecret: settings.appSecret,
    domain: sdkDomain(settings.domain),
    logger: sdkLogger(log),
    loggerLevel: lark.LoggerLevel.warn,
    autoReconnect: true,
    onReady: () => {
      state = 'connected';
      log.info({}, 'feishu long connection ready');
    },
    onReconnected: () => (state = 'connected'),
    onReconnecting: () => (state = 'lost'),
    onError: (err: Error) => log.warn({ err: err.message }, 'feishu long connection error'),
  } as ConstructorParameters<typeof lark.WSClient>[0]);
  return {
    async start(dispatcher) {
      await ws.start({ eventDispatcher: dispatcher });
    },
    stop: () => ws.close({ force: true }),
    connected: () => state === 'connected',
  };
}
