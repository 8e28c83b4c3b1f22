import { afterEach, describe, expect, it } from 'vitest';
import { sampleReport } from '../fakes/dashscope-script.js';
import { cardText, markdownOf, type FakeFeishu, type FakeFeishuMessage } from '../fakes/feishu.js';
import { docCard, feishuWorld, progressCard, text, type FeishuWorld } from './harness.js';

let w: FeishuWorld;
afterEach(() => w?.close());

const rootOf = (event: Record<string, unknown>) => (event.event as { message: { message_id: string } }).message.message_id;

/** Everything the thread shows now (the current version of every message). */
const shown = (w: FeishuWorld, root: string) => w.feishu.thread(root).map((m) => (m.msg_type === 'interactive' ? cardText(m.content) : JSON.stringify(m.content))).join('\n');
const shownMarkdown = (w: FeishuWorld, root: string) =>
  w.feishu
    .thread(root)
    .filter((m) => m.msg_type === 'interactive')
    .flatMap((m) => markdownOf(m.content))
    .join('\n');
const count = (haystack: string, needle: string) => haystack.split(needle).length - 1;
const liveCards = (w: FeishuWorld, root: string): FakeFeishuMessage[] => w.feishu.thread(root).filter((m) => m.card_id);

/** Every card entity's operations came with strictly increasing sequences, at most 10 in any second. */
function expectCardKitRules(feishu: FakeFeishu): void {
  for (const card of feishu.cards.values()) {
    const seqs = card.ops.map((o) => o.sequence);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
    for (const op of card.ops) expect(card.ops.filter((o) => o.at >= op.at && o.at < op.at + 1000).length).toBeLessThanOrEqual(10);
  }
  expect(feishu.refused.filter((r) => r.code === 300317 || r.code === 230020)).toEqual([]);
}

describe('Feishu progress as a CardKit streaming card', () => {
  it('streams the progress and the report into one card entity, turns streaming off at the end, and posts no second copy', async () => {
    w = await feishuWorld({ SKIP_CLARIFICATION: 'true' });
    w.ds.frameDelayMs = 15;
    const event = w.feishu.userMessage({ text: 'AI in education', mentionBot: true });
    const root = rootOf(event);
    await w.deliver(event);
    await expect.poll(() => w.feishu.files.size, { timeout: 15_000 }).toBe(1);
    await expect.poll(() => text(progressCard(w, root)!)).toMatch(/Research finished/);
    const progress = progressCard(w, root)!;
    const card = w.feishu.cardOf(progress.message_id)!;
    expect(card).toBeDefined();
    await expect.poll(() => card.streaming).toBe(false);
    await expect.poll(() => card.settings.at(-1)).toMatchObject({ streaming_mode: false });
    // The report's text was streamed into its element, not only set at the end.
    expect(card.ops.filter((o) => o.kind === 'content' && o.elementId === 'report').length).toBeGreaterThan(1);
    expect(card.ops.some((o) => o.kind === 'content' && o.elementId === 'stats')).toBe(true);
    // One copy of the report: the live card, then the references and the file.
    const md = shownMarkdown(w, root);
    expect(count(md, '#### Personalised learning with AI')).toBe(1);
    for (let s = 1; s <= 3; s++) for (let p = 1; p <= 2; p++) expect(count(md, `Paragraph ${s}.${p}:`)).toBe(1);
    expect(md).toContain('[\\[1\\]](https://example.org/source-1');
    await expect.poll(() => docCard(w, root)).toBeDefined();
    expect(w.feishu.thread(root).map((m) => m.msg_type)).toEqual(['interactive', 'interactive', 'file', 'interactive']);
    expect(text(progress)).toMatch(/✅ Planning the research.*✅ Searching the web.*✅ Writing the report/);
    expect(JSON.stringify(progress.content)).not.toContain('"a":"cancel"');
    expectCardKitRules(w.feishu);
    expect(w.feishu.refused).toEqual([]);
  });

  it("a card whose streaming closes mid-run is replaced by a fresh one: every round's query and every paragraph shown exactly once", async () => {
    w = await feishuWorld({ SKIP_CLARIFICATION: 'true' }, { fake: (f) => (f.streamingCloseMs = 700) });
    w.ds.script = { ...w.ds.script, rounds: 6, report: sampleReport(5, 2), chunk: 30 };
    w.ds.frameDelayMs = 15;
    const event = w.feishu.userMessage({ text: 'AI in education', mentionBot: true });
    const root = rootOf(event);
    await w.deliver(event);
    await expect.poll(() => w.feishu.files.size, { timeout: 30_000 }).toBe(1);
    await expect.poll(() => text(liveCards(w, root).at(-1)!), { timeout: 5000 }).toMatch(/Research finished/);
    const cards = liveCards(w, root);
    expect(cards.length).toBeGreaterThanOrEqual(3);
    // Feishu said so (200850 first, then 300309), and nothing else was refused.
    expect(w.feishu.refused.length).toBeGreaterThan(0);
    expect(new Set(w.feishu.refused.map((r) => r.code))).toEqual(new Set(w.feishu.refused.map((r) => r.code).filter((c) => c === 200850 || c === 300309)));
    // Each replaced card points to the next; the last carries everything.
    await expect.poll(() => cards.slice(0, -1).every((m) => cardText(m.content).includes('The progress continues in the card below.'))).toBe(true);
    const all = shown(w, root);
    for (let r = 1; r <= 6; r++) expect(count(all, `search query for round ${r}`), `round ${r}`).toBe(1);
    const md = shownMarkdown(w, root);
    for (let s = 1; s <= 5; s++) for (let p = 1; p <= 2; p++) expect(count(md, `Paragraph ${s}.${p}:`), `paragraph ${s}.${p}`).toBe(1);
    expect(count(md, 'AI can personalise learning when data and teachers are in the loop')).toBe(1);
    // The thread reads in order: the cards, then the references, the file and the document's link.
    await expect.poll(() => docCard(w, root)).toBeDefined();
    expect(w.feishu.thread(root).slice(cards.length).map((m) => m.msg_type)).toEqual(['interactive', 'file', 'interactive']);
    // Streaming is off on every card, and the last one was turned off explicitly.
    await expect.poll(() => [...w.feishu.cards.values()].every((c) => !c.streaming)).toBe(true);
    await expect.poll(() => w.feishu.cardOf(cards.at(-1)!.message_id)!.settings.at(-1)).toMatchObject({ streaming_mode: false });
    expectCardKitRules(w.feishu);
  }, 40_000);

  it('Cancel works on a replacement card, and the run ends cancelled there', async () => {
    w = await feishuWorld({ SKIP_CLARIFICATION: 'true' }, { fake: (f) => (f.streamingCloseMs = 500) });
    w.ds.frameDelayMs = 40;
    const event = w.feishu.userMessage({ text: 'AI in education', mentionBot: true });
    const root = rootOf(event);
    await w.deliver(event);
    await expect.poll(() => liveCards(w, root).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    const fresh = liveCards(w, root).at(-1)!;
    await expect.poll(() => JSON.stringify(fresh.content).includes('"a":"cancel"')).toBe(true);
    await w.deliver(w.feishu.cardAction(fresh.message_id, 'cancel'));
    await expect.poll(() => w.ds.clientAborts).toBe(1);
    await expect.poll(() => text(liveCards(w, root).at(-1)!)).toMatch(/cancelled/);
    expect(JSON.stringify(liveCards(w, root).at(-1)!.content)).not.toContain('"a":"cancel"');
  }, 20_000);

  it('without the cardkit:card:write scope: the patched card and the report as cards, remembered for the tenant', async () => {
    w = await feishuWorld({ SKIP_CLARIFICATION: 'true' }, { fake: (f) => (f.refuseCardKit = true) });
    const first = w.feishu.userMessage({ text: 'AI in education', mentionBot: true });
    await w.deliver(first);
    await expect.poll(() => w.feishu.files.size, { timeout: 15_000 }).toBe(1);
    const root = rootOf(first);
    await expect.poll(() => text(progressCard(w, root)!)).toMatch(/Research finished/);
    const progress = progressCard(w, root)!;
    expect(progress.card_id).toBeUndefined();
    expect(progress.history.length).toBeGreaterThan(1);
    expect(w.feishu.refused.map((r) => r.code)).toEqual([99991672]);
    const md = shownMarkdown(w, root);
    expect(count(md, '#### Personalised learning with AI')).toBe(1);
    expect(md).toContain('References');
    // A report card of its own, as before (and the document's link card).
    await expect.poll(() => docCard(w, root)).toBeDefined();
    expect(w.feishu.thread(root).filter((m) => m.msg_type === 'interactive')).toHaveLength(4);

    const second = w.feishu.userMessage({ text: 'battery chemistry', mentionBot: true });
    await w.deliver(second);
    await expect.poll(() => w.feishu.files.size, { timeout: 15_000 }).toBe(2);
    expect(w.feishu.callsTo(/^\/open-apis\/cardkit\/v1\/cards$/)).toBe(1);
    expect(progressCard(w, rootOf(second))!.card_id).toBeUndefined();
  });

  it('with CardKit turned off the progress is the patched card, as before', async () => {
    w = await feishuWorld({ SKIP_CLARIFICATION: 'true' }, { cardkit: { enabled: false } });
    const event = w.feishu.userMessage({ text: 'AI in education', mentionBot: true });
    await w.deliver(event);
    await expect.poll(() => w.feishu.files.size, { timeout: 15_000 }).toBe(1);
    expect(w.feishu.callsTo(/cardkit/)).toBe(0);
    expect(count(shownMarkdown(w, rootOf(event)), '#### Personalised learning with AI')).toBe(1);
  });
});
