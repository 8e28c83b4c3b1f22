import type { EventDispatcher } from '@larksuiteoapi/node-sdk';
import { startBot, type Bot } from '../../src/bot.js';
import { loadConfig } from '../../src/config.js';
import { tempDbPath } from '../core/harness.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import type { FeishuOptions } from '../../src/platforms/feishu/app.js';
import type { CardKitSettings } from '../../src/platforms/feishu/outbound.js';
import { APP_ID, APP_SECRET, cardText, ENCRYPT_KEY, FakeFeishu, type FakeFeishuMessage } from '../fakes/feishu.js';

export interface FeishuWorld {
  ds: FakeDashScope;
  feishu: FakeFeishu;
  bot: Bot;
  /** Delivers an event or callback the way the configured connection does; resolves with the acknowledgement. */
  deliver(payload: Record<string, unknown>): Promise<{ status: number; ms: number }>;
  close(): Promise<void>;
}

/**
 * The bot against fake Feishu and DashScope. `webhook`: events are encrypted, signed and POSTed to
 * /feishu/events. Otherwise the long connection: events go into the EventDispatcher exactly as the SDK's
 * WSClient hands them over (`invoke(data, {needCheck: false})`, acknowledged when it resolves).
 */
export async function feishuWorld(
  env: Record<string, string> = {},
  opts: { webhook?: boolean; cardkit?: Partial<CardKitSettings>; fake?: (feishu: FakeFeishu) => void } = {},
): Promise<FeishuWorld> {
  const ds = await new FakeDashScope().start();
  const feishu = await new FakeFeishu().start();
  opts.fake?.(feishu);
  let dispatcher: EventDispatcher | undefined;
  const config = loadConfig({
    DASHSCOPE_API_KEY: 'sk-test',
    DASHSCOPE_BASE_URL: ds.url,
    FEISHU_APP_ID: APP_ID,
    FEISHU_APP_SECRET: APP_SECRET,
    FEISHU_DOMAIN: feishu.url,
    FEISHU_CONNECTION: opts.webhook ? 'webhook' : 'websocket',
    ...(opts.webhook ? { FEISHU_ENCRYPT_KEY: ENCRYPT_KEY } : {}),
    STORE_URL: `sqlite:${tempDbPath()}`,
    PORT: '0',
    MAX_CONCURRENT_RESEARCH: '10',
    ...env,
  });
  // CardKit operations one per 150 ms per card (production: 200), under the fake's 10 a second.
  const feishuOptions: Omit<FeishuOptions, 'handle' | 'log'> = {
    patchIntervalMs: 200,
    cardkit: { opIntervalMs: 150, ...opts.cardkit },
    longConnection: {
      async start(d) {
        dispatcher = d;
      },
      stop() {},
      connected: () => dispatcher !== undefined,
    },
  };
  const bot = await startBot(config, { host: '127.0.0.1', progressIntervalMs: 50, feishu: feishuOptions });
  const endpoint = `http://127.0.0.1:${bot.port}/feishu/events`;
  return {
    ds,
    feishu,
    bot,
    async deliver(payload) {
      if (opts.webhook) return feishu.deliver(endpoint, payload);
      const started = performance.now();
      await dispatcher!.invoke(JSON.parse(JSON.stringify(payload)), { needCheck: false });
      return { status: 200, ms: performance.now() - started };
    },
    async close() {
      await bot.stop();
      await feishu.close();
      await ds.close();
    },
  };
}

export function text(m: FakeFeishuMessage): string {
  return m.msg_type === 'interactive' ? cardText(m.content) : JSON.stringify(m.content);
}

/** The bot's clarifying-question card in a thread: the first card. */
export function clarifyCard(w: FeishuWorld, root: string): FakeFeishuMessage | undefined {
  return w.feishu.thread(root).find((m) => m.msg_type === 'interactive');
}

/** The progress card: the card that was first posted as a queued research run. */
export function progressCard(w: FeishuWorld, root: string): FakeFeishuMessage | undefined {
  return w.feishu.thread(root).find((m) => m.msg_type === 'interactive' && /Starting the research|Waiting for a free research slot/.test(cardText(m.history[0]!)));
}

/** The card in the thread that links the report's Feishu document (an open_url button to a docx address). */
export function docCard(w: FeishuWorld, root: string): FakeFeishuMessage | undefined {
  return w.feishu.thread(root).find((m) => m.msg_type === 'interactive' && /"open_url"[^}]*\/docx\//.test(JSON.stringify(m.content)));
}

/** The document a link card points to. */
export function docOf(w: FeishuWorld, card: FakeFeishuMessage): string {
  const id = /\/docx\/([A-Za-z0-9]+)/.exec(JSON.stringify(card.content))?.[1];
  if (!id || !w.feishu.docx.docs.has(id)) throw new Error('the card links no known document');
  return id;
}
