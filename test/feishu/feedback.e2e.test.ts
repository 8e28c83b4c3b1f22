import { afterEach, describe, expect, it } from 'vitest';
import { feedbackClick, type FakeFeishu } from '../fakes/feishu.js';
import { feishuWorld, progressCard, text, type FeishuWorld } from './harness.js';
import { problems } from './card-rules.js';

let w: FeishuWorld;
afterEach(() => w?.close());

const rootOf = (event: Record<string, unknown>) => (event.event as { message: { message_id: string } }).message.message_id;
const metrics = async () => (await fetch(`http://127.0.0.1:${w.bot.port}/metrics`)).text();

const cases: [string, ((f: FakeFeishu) => void) | undefined, boolean][] = [
  ['the CardKit live card', undefined, true],
  ['the patched card (CardKit refused)', (f) => (f.refuseCardKit = true), false],
];

describe('Feishu feedback on a finished report', () => {
  it.each(cases)("%s carries 👍 / 👎; each person's last click counts, in the store and in /metrics", async (_name, fake, live) => {
    w = await feishuWorld({ SKIP_CLARIFICATION: 'true' }, { fake });
    const event = w.feishu.userMessage({ text: 'AI in education', mentionBot: true });
    const root = rootOf(event);
    await w.deliver(event);
    await expect.poll(() => w.feishu.files.size, { timeout: 15_000 }).toBe(1);
    await expect.poll(() => text(progressCard(w, root)!)).toMatch(/Research finished/);
    const card = progressCard(w, root)!;
    expect(Boolean(card.card_id)).toBe(live);
    await expect.poll(() => text(card)).toContain('👍 Helpful');
    expect(text(card)).toContain('👎 Not helpful');
    expect(problems(card.content)).toEqual([]);

    await w.deliver(feedbackClick(w.feishu, card.message_id, 'good', { user: 'ou_alice' }));
    await expect.poll(() => w.bot.store.countFeedback()).toEqual({ good: 1, bad: 0 });
    await w.deliver(feedbackClick(w.feishu, card.message_id, 'good', { user: 'ou_bob' }));
    await expect.poll(() => w.bot.store.countFeedback()).toEqual({ good: 2, bad: 0 });
    // Bob changes his mind: the buttons are still there, and his later click replaces the earlier one.
    expect(text(card)).toContain('👎 Not helpful');
    await w.deliver(feedbackClick(w.feishu, card.message_id, 'bad', { user: 'ou_bob' }));
    await expect.poll(() => w.bot.store.countFeedback()).toEqual({ good: 1, bad: 1 });
    const m = await metrics();
    expect(m).toMatch(/drb_report_feedback\{value="good"\} 1\n/);
    expect(m).toMatch(/drb_report_feedback\{value="bad"\} 1\n/);
    // A click is no action on the run: the card still shows it finished.
    expect(text(progressCard(w, root)!)).toMatch(/Research finished/);
  }, 30_000);

  it('a redelivered click counts once; the callback is answered with a toast (webhook)', async () => {
    w = await feishuWorld({ SKIP_CLARIFICATION: 'true' }, { webhook: true });
    const event = w.feishu.userMessage({ text: 'AI in education', mentionBot: true });
    const root = rootOf(event);
    await w.deliver(event);
    await expect.poll(() => w.feishu.files.size, { timeout: 15_000 }).toBe(1);
    await expect.poll(() => text(progressCard(w, root)!)).toContain('👍 Helpful');
    const click = feedbackClick(w.feishu, progressCard(w, root)!.message_id, 'bad', { user: 'ou_carol' });
    const answer = await w.feishu.deliver(`http://127.0.0.1:${w.bot.port}/feishu/events`, click);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ toast: { type: 'success', content: '👎 Not helpful', i18n: { zh_cn: '👎 没帮助' } } });
    await expect.poll(() => w.bot.store.countFeedback()).toEqual({ good: 0, bad: 1 });
    await w.deliver(feedbackClick(w.feishu, progressCard(w, root)!.message_id, 'good', { user: 'ou_carol' }));
    await expect.poll(() => w.bot.store.countFeedback()).toEqual({ good: 1, bad: 0 });
    // Feishu redelivers the earlier click (same event id): it does not undo the later one.
    await w.deliver(click);
    await new Promise((r) => setTimeout(r, 300));
    expect(await w.bot.store.countFeedback()).toEqual({ good: 1, bad: 0 });
  }, 30_000);
});
