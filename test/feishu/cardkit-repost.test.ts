import { beforeEach, describe, expect, it } from 'vitest';
import { silentLogger, type Logger } from '../../src/core/ports/logger.js';
import { cardText } from '../fakes/feishu.js';
import { platformHarness, progressView } from './platform-harness.js';

/**
 * A tagged progress post repeated after a crash (the reply went out, its message id never recorded), driven at the
 * platform boundary with the real SDK client against the fake Feishu: the reply's uuid is the tag's, so Feishu hands
 * back the message sent before, and the process that repeats the post takes that message's card over.
 */
describe('Feishu progress post repeated after a crash', () => {
  const warnings: { obj: object; msg?: string }[] = [];
  const log: Logger = { ...silentLogger, warn: (obj, msg) => void warnings.push({ obj, msg }), child: () => log };
  const h = platformHarness(log);
  /** A process: its own FeishuApi (token, budgets) and platform, nothing in memory. */
  const platform = () => h.platform({ ownApi: true });
  const view = (state: 'queued' | 'researching' | 'done', draft = '') => progressView(state, draft);
  const { newThread } = h;
  const shown = (messageId: string) => cardText(h.feishu.messages.get(messageId)!.content);
  const idConverts = () => h.feishu.callsTo(/\/cardkit\/v1\/cards\/id_convert$/);

  beforeEach(() => {
    warnings.length = 0;
  });

  it('the repeated post returns the same message; the card sent before is the one updated, to the end', async () => {
    const { root, thread } = newThread();
    // Process A: the progress card goes out and streams the draft; then A dies before the core records the id.
    const a = platform();
    const id = await a.post(thread, view('queued'), 'progress:1');
    const first = h.feishu.cardOf(id)!;
    expect(first.streaming).toBe(true);
    await a.update(thread, id, view('researching', 'Alpha from process A.\n\nstill writing'), false);
    await expect.poll(() => shown(id)).toContain('Alpha from process A.');
    const opsByA = first.ops.length;
    a.stop();

    // Process B (nothing in memory) repeats the post with the same tag: Feishu answers with A's message.
    const b = platform();
    const again = await b.post(thread, view('researching', 'Bravo from process B.\n\nstill writing'), 'progress:1');
    expect(again).toBe(id);
    expect(h.feishu.uuidRepeats).toBe(1);
    expect(h.feishu.thread(root)).toHaveLength(1);
    // B's fresh card entity was never sent and is left alone.
    expect(h.feishu.cards.size).toBe(2);
    const unsent = [...h.feishu.cards.values()].find((c) => c.card_id !== first.card_id)!;
    expect(unsent.messageId).toBeUndefined();

    // The view B posted shows in A's card at once, updated whole with sequences above any A used.
    await expect.poll(() => shown(id)).toContain('Bravo from process B.');
    expect(shown(id)).not.toContain('Alpha from process A.');
    await b.update(thread, again, view('researching', 'Bravo from process B.\n\nCharlie from process B.\n\nstill writing'), false);
    await expect.poll(() => shown(id)).toContain('Charlie from process B.');
    await b.update(thread, again, view('done'), true);
    await expect.poll(() => JSON.stringify(h.feishu.messages.get(id)!.content)).toContain('Research finished');
    await expect.poll(() => first.settings.at(-1)).toMatchObject({ streaming_mode: false });
    expect(first.streaming).toBe(false);
    const byB = first.ops.slice(opsByA);
    expect(byB.length).toBeGreaterThanOrEqual(3);
    expect(byB.every((o) => o.sequence > 1_000_000)).toBe(true);
    expect(byB.filter((o) => o.kind === 'content' || o.kind === 'element')).toEqual([]);
    await b.drained();
    expect(unsent.ops).toEqual([]);
    expect(h.feishu.thread(root)).toHaveLength(1);
    expect(h.feishu.refused).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it('an ordinary post creates one card and one message, which streams; untagged, nobody asks which card it holds', async () => {
    const { root, thread } = newThread();
    const p = platform();
    const id = await p.post(thread, view('queued'), 'progress:1');
    expect(h.feishu.thread(root)).toHaveLength(1);
    expect(h.feishu.cards.size).toBe(1);
    expect(h.feishu.cardOf(id)!.messageId).toBe(id);
    expect(idConverts()).toBe(1);
    await p.update(thread, id, view('researching', 'Delta streamed.\n\nstill writing'), false);
    await expect.poll(() => shown(id)).toContain('Delta streamed.');
    await p.update(thread, id, view('researching', 'Delta streamed.\n\nFoxtrot typed out.\n\nstill writing'), false);
    await expect.poll(() => shown(id)).toContain('Foxtrot typed out.');
    expect(h.feishu.cardOf(id)!.ops.some((o) => o.kind === 'content')).toBe(true);
    await p.update(thread, id, view('done'), true);
    await expect.poll(() => h.feishu.cardOf(id)!.settings.at(-1)).toMatchObject({ streaming_mode: false });

    const other = newThread();
    const untagged = await p.post(other.thread, view('queued'));
    expect(h.feishu.thread(other.root)).toHaveLength(1);
    expect(h.feishu.cardOf(untagged)!.messageId).toBe(untagged);
    expect(h.feishu.cards.size).toBe(2);
    expect(idConverts()).toBe(1);
    expect(h.feishu.uuidRepeats).toBe(0);
    expect(h.feishu.refused).toEqual([]);
  });

  it('id_convert failing: the card just created is taken (one message, the post does not fail), with a warning', async () => {
    const { root, thread } = newThread();
    h.feishu.failures.push({ path: /id_convert$/, answer: { status: 400, body: { code: 300301, msg: 'refused (test)' } } });
    const p = platform();
    const id = await p.post(thread, view('queued'), 'progress:1');
    expect(h.feishu.thread(root)).toHaveLength(1);
    expect(h.feishu.cards.size).toBe(1);
    await p.update(thread, id, view('researching', 'Echo streamed.\n\nstill writing'), false);
    await expect.poll(() => shown(id)).toContain('Echo streamed.');
    // The SDK's own line about the refused call aside, one warning, with the code only.
    const ours = warnings.filter((w) => w.msg !== 'feishu sdk');
    expect(ours).toHaveLength(1);
    expect(ours[0]!.obj).toEqual({ code: 300301 });
    expect(h.feishu.thread(root)).toHaveLength(1);
  });

  it('the fake: a reply uuid repeated within the window answers with the earlier message; after it, a new one is sent', async () => {
    const { root } = newThread();
    platform();
    const reply = (text: string) => h.api.reply(root, 'text', { text }, 'same-uuid');
    const first = await reply('one');
    expect(await reply('two')).toBe(first);
    expect(h.feishu.thread(root)).toHaveLength(1);
    expect(h.feishu.messages.get(first)!.content).toEqual({ text: 'one' });
    h.feishu.uuidWindowMs = 50;
    await expect.poll(() => reply('three'), { interval: 20 }).not.toBe(first);
    expect(h.feishu.thread(root).map((m) => m.content)).toEqual([{ text: 'one' }, { text: 'three' }]);
  });
});
