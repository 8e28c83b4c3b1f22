import { afterEach, beforeEach } from 'vitest';
import type { View } from '../../src/core/ports/chat.js';
import { silentLogger, type Logger } from '../../src/core/ports/logger.js';
import { startProgress } from '../../src/core/progress.js';
import type { Reference } from '../../src/core/ports/research.js';
import { FeishuApi } from '../../src/platforms/feishu/api.js';
import { FeishuPlatform, type CardKitSettings } from '../../src/platforms/feishu/outbound.js';
import { CardPatcher } from '../../src/platforms/feishu/patcher.js';
import { threadKey } from '../../src/platforms/feishu/thread-key.js';
import { APP_ID, APP_SECRET, FakeFeishu, TENANT } from '../fakes/feishu.js';

export interface PlatformHarness {
  feishu: FakeFeishu;
  api: FeishuApi;
  /**
   * A process's Feishu platform (nothing in memory), stopped after the test. `ownApi`: with a FeishuApi of its own
   * (token, budgets), as a restarted process has; otherwise the test's shared one.
   */
  platform(opts?: { cardkit?: Partial<CardKitSettings>; patchMs?: number; ownApi?: boolean }): FeishuPlatform;
  /** A person's mention in a group: its message id and the thread the bot answers in. */
  newThread(text?: string): { root: string; thread: string };
}

/** The Feishu platform driven as the core drives it, with the real SDK client against a fake Feishu started for each test. */
export function platformHarness(log: Logger = silentLogger): PlatformHarness {
  const platforms: FeishuPlatform[] = [];
  const newApi = () => new FeishuApi({ appId: APP_ID, appSecret: APP_SECRET, domain: h.feishu.url }, log);
  const h: PlatformHarness = {
    feishu: undefined as unknown as FakeFeishu,
    api: undefined as unknown as FeishuApi,
    platform({ cardkit = {}, patchMs = 100, ownApi = false } = {}) {
      if (ownApi) h.api = newApi();
      const p = new FeishuPlatform(h.api, new CardPatcher(h.api, log, patchMs), log, { opIntervalMs: 150, ...cardkit });
      platforms.push(p);
      return p;
    },
    newThread(text = 'AI in education') {
      const root = (h.feishu.userMessage({ text, mentionBot: true }).event as { message: { message_id: string } }).message.message_id;
      return { root, thread: threadKey({ tenant: TENANT, chat: 'oc_group', root }) };
    },
  };
  beforeEach(async () => {
    h.feishu = await new FakeFeishu().start();
    h.api = newApi();
  });
  afterEach(async () => {
    for (const p of platforms.splice(0)) p.stop();
    await h.feishu.close();
  });
  return h;
}

/** A progress view of a research on "AI in education": writing `draft` when there is one. */
export function progressView(state: 'queued' | 'researching' | 'done', draft = '', references: Reference[] = []): View {
  return {
    kind: 'progress',
    lang: 'en',
    topic: 'AI in education',
    state,
    progress: { ...startProgress(Date.now()), phase: draft ? 'writing' : 'starting', draft, references },
    ...(state === 'done' ? { words: 1000 } : {}),
  };
}
