import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { View } from '../../src/core/ports/chat.js';
import { silentLogger, type Logger } from '../../src/core/ports/logger.js';
import { startProgress } from '../../src/core/progress.js';
import { FeishuApi } from '../../src/platforms/feishu/api.js';
import { FeishuPlatform } from '../../src/platforms/feishu/outbound.js';
import { CardPatcher } from '../../src/platforms/feishu/patcher.js';
import { threadKey } from '../../src/platforms/feishu/thread-key.js';
import { APP_ID, APP_SECRET, cardText, FakeFeishu, TENANT } from '../fakes/feishu.js';

/**
 * A tagged progress post repeated after a crash (the reply went out, its message id never recorded), driven at the
 * platform boundary with the real SDK client against the fake Feishu: the reply's uuid is the tag's, so Feishu hands
 * back the message sent before, and the process that repeats the post takes that message's card over.
 */
describe('Feishu progress post repeated after a crash', () => {
  let feishu: FakeFeishu;
  let api: FeishuApi;
  const platforms: FeishuPlatform[] = [];
  const warnings: { obj: object; msg?: string }[] = [];
  const log: Logger = { ...silentLogger, warn: (obj, msg) => void warnings.push({ obj, msg }), child: () => log };
  /** A process: its own FeishuApi (token, budgets) and platform, nothing in memory. */
  const platform = () => {
    api = new FeishuApi({ appId: APP_ID, appSecret: APP_SECRET, domain: feishu.url }, log);
    const p = new FeishuPlatform(api, new CardPatcher(api, log, 100), log, { opIntervalMs: 150 });
    platforms.push(p);
    return p;
  };
  const view = (state: 'queued' | 'researching' | 'done', draft = ''): View => ({
    kind: 'progress',
    lang: 'en',
    topic: 'AI in education',
    state,
    progress: { ...startProgress(Date.now()), phase: draft ? 'writing' : 'starting', draft, references: [] },
    ...(state === 'done' ? { words: 1000 } : {}),
  });
  const newThread = () => {
    const root = (feishu.userMessage({ text: 'AI in education', mentionBot: true }).event as { message: { message_id: string } }).message.message_id;
    return { root, thread: threadKey({ tenant: TENANT, chat: 'oc_group', root }) };
  };
  const shown = (messageId: string) => cardText(feishu.messages.get(messageId)!.content);
  const idConverts = () => feishu.callsTo(/\/cardkit\/v1\/cards\/id_convert$/);

  beforeEach(async () => {
    feishu = await new FakeFeishu().start();
    warnings.length = 0;
  });
  afterEach(async () => {
    for (const p of platforms.splice(0)) p.stop();
    await feishu.close();
  });

  it('the repeated post returns the same message; the card sent before is the one updated, to the end', async () => {
    const { root, thread } = newThread();
    // Process A: the progress card goes out and streams the draft; then A dies before the core records the id.
    const a = platform();
    const id = await a.post(thread, view('queued'), 'progress:1');
    const first = feishu.cardOf(id)!;
    expect(first.streaming).toBe(true);
    await a.update(thread, id, view('researching', 'Alpha from process A.\n\nstill writing'), false);
    await expect.poll(() => shown(id)).toContain('Alpha from process A.');
    const opsByA = first.ops.length;
    a.stop();

    // Process B (nothing in memory) repeats the post with the same tag: Feishu answers with A's message.
    const b = platform();
    const again = await b.post(thread, view('researching', 'Bravo from process B.\n\nstill writing'), 'progress:1');
    expect(again).toBe(id);
    expect(feishu.uuidRepeats).toBe(1);
    expect(feishu.thread(root)).toHaveLength(1);
    // B's fresh card entity was never sent and is left alone.
    expect(feishu.cards.size).toBe(2);
    const unsent = [...feishu.cards.values()].find((c) => c.card_id !== first.card_id)!;
    expect(unsent.messageId).toBeUndefined();

    // The view B posted shows in A's card at once, updated whole with sequences above any A used.
    await expect.poll(() => shown(id)).toContain('Bravo from process B.');
    expect(shown(id)).not.toContain('Alpha from process A.');
    await b.update(thread, again, view('researching', 'Bravo from process B.\n\nCharlie from process B.\n\nstill writing'), false);
    await expect.poll(() => shown(id)).toContain('Charlie from process B.');
    await b.update(thread, again, view('done'), true);
    await expect.poll(() => JSON.stringify(feishu.messages.get(id)!.content)).toContain('Research finished');
    await expect.poll(() => first.settings.at(-1)).toMatchObject({ streaming_mode: false });
    expect(first.streaming).toBe(false);
    const byB = first.ops.slice(opsByA);
    expect(byB.length).toBeGreaterThanOrEqual(3);
    expect(byB.every((o) => o.sequence > 1_000_000)).toBe(true);
    expect(byB.filter((o) => o.kind === 'content' || o.kind === 'element')).toEqual([]);
    await b.drained();
    expect(unsent.ops).toEqual([]);
    expect(feishu.thread(root)).toHaveLength(1);
    expect(feishu.refused).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it('an ordinary post creates one card and one message, which streams; untagged, nobody asks which card it holds', async () => {
    const { root, thread } = newThread();
    const p = platform();
    const id = await p.post(thread, view('queued'), 'progress:1');
    expect(feishu.thread(root)).toHaveLength(1);
    expect(feishu.cards.size).toBe(1);
    expect(feishu.cardOf(id)!.messageId).toBe(id);
    expect(idConverts()).toBe(1);
    await p.update(thread, id, view('researching', 'Delta streamed.\n\nstill writing'), false);
    await expect.poll(() => shown(id)).toContain('Delta streamed.');
    await p.update(thread, id, view('researching', 'Delta streamed.\n\nFoxtrot typed out.\n\nstill writing'), false);
    await expect.poll(() => shown(id)).toContain('Foxtrot typed out.');
    expect(feishu.cardOf(id)!.ops.some((o) => o.kind === 'content')).toBe(true);
    await p.update(thread, id, view('done'), true);
    await expect.poll(() => feishu.cardOf(id)!.settings.at(-1)).toMatchObject({ streaming_mode: false });

    const other = newThread();
    const untagged = await p.post(other.thread, view('queued'));
    expect(feishu.thread(other.root)).toHaveLength(1);
    expect(feishu.cardOf(untagged)!.messageId).toBe(untagged);
    expect(feishu.cards.size).toBe(2);
    expect(idConverts()).toBe(1);
    expect(feishu.uuidRepeats).toBe(0);
    expect(feishu.refused).toEqual([]);
  });

  it('id_convert failing: the card just created is taken (one message, the post does not fail), with a warning', async () => {
    const { root, thread } = newThread();
    feishu.failures.push({ path: /id_convert$/, answer: { status: 400, body: { code: 300301, msg: 'refused (test)' } } });
    const p = platform();
    const id = await p.post(thread, view('queued'), 'progress:1');
    expect(feishu.thread(root)).toHaveLength(1);
    expect(feishu.cards.size).toBe(1);
    await p.update(thread, id, view('researching', 'Echo streamed.\n\nstill writing'), false);
    await expect.poll(() => shown(id)).toContain('Echo streamed.');
    // The SDK's own line about the refused call aside, one warning, with the code only.
    const ours = warnings.filter((w) => w.msg !== 'feishu sdk');
    expect(ours).toHaveLength(1);
    expect(ours[0]!.obj).toEqual({ code: 300301 });
    expect(feishu.thread(root)).toHaveLength(1);
  });

  it('the fake: a reply uuid repeated within the window answers with the earlier message; after it, a new one is sent', async () => {
    const { root } = newThread();
    platform();
    const reply = (text: string) => api.reply(root, 'text', { text }, 'same-uuid');
    const first = await reply('one');
    expect(await reply('two')).toBe(first);
    expect(feishu.thread(root)).toHaveLength(1);
    expect(feishu.messages.get(first)!.content).toEqual({ text: 'one' });
    feishu.uuidWindowMs = 50;
    await expect.poll(() => reply('three'), { interval: 20 }).not.toBe(first);
    expect(feishu.thread(root).map((m) => m.content)).toEqual([{ text: 'one' }, { text: 'three' }]);
  });
});
