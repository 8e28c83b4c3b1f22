import { describe, expect, it } from 'vitest';
import { strings } from '../../src/core/i18n.js';
import type { View } from '../../src/core/ports/chat.js';
import type { Lang } from '../../src/core/ports/thread.js';
import { startProgress } from '../../src/core/progress.js';
import { liveProgressCard, renderCard, type Card } from '../../src/platforms/feishu/cards.js';
import { fromCardAction } from '../../src/platforms/feishu/inbound.js';
import { markdownOf } from '../fakes/feishu.js';
import { THREADS } from '../fixtures/views.js';
import { problems } from './card-rules.js';

type El = Record<string, unknown>;
type Followup = Extract<View, { kind: 'followup' }>;

const HOSTILE = 'Tell <at id=all></at> <font color=red>x</font> <@U1> [a]($url) **b** `c` & "q" ';
const LINKED = 'Adaptive tutors pick the next exercise [\\[1\\]](https://example.org/source-1) and help [\\[2\\]](https://example.org/source-2).';
const TABLE = '| a | b |\n| --- | --- |\n| 1 | 2 |\n';

function nodes(v: unknown): El[] {
  if (Array.isArray(v)) return v.flatMap(nodes);
  if (!v || typeof v !== 'object') return [];
  return [v as El, ...Object.values(v).flatMap(nodes)];
}

const buttons = (c: Card) => nodes(c.body).filter((n) => n.tag === 'button' && Array.isArray(n.behaviors)).map((n) => (n.behaviors as { value: { a: string; t: string } }[])[0]!.value);
const plainTexts = (c: Card) => nodes(c.body).flatMap((n) => (n.tag === 'plain_text' && typeof n.content === 'string' ? [n.content] : []));

function followups(): { name: string; view: Followup }[] {
  const out: { name: string; view: Followup }[] = [];
  for (const lang of ['en', 'zh'] as Lang[]) {
    const t = strings(lang).followup;
    for (const long of [false, true]) {
      const question = long ? `${HOSTILE}${'问'.repeat(3900)}` : 'Which study had the largest effect?';
      const text = long ? `${LINKED}\n\n${`${HOSTILE}\n\n${TABLE}\n`.repeat(12)}${'字'.repeat(20_000)}` : LINKED;
      const base = { kind: 'followup' as const, lang, asker: 'ou_alice', question };
      const tag = `${lang}${long ? ', long' : ''}`;
      out.push({ name: `thinking (${tag})`, view: { ...base, state: 'thinking', text: t.thinking } });
      out.push({ name: `writing (${tag})`, view: { ...base, state: 'writing', text } });
      out.push({ name: `writing, nothing yet (${tag})`, view: { ...base, state: 'writing', text: '' } });
      out.push({ name: `done (${tag})`, view: { ...base, state: 'done', text, footer: t.footer('qwen-plus', 4321, '¥0.01') } });
      out.push({ name: `failed (${tag})`, view: { ...base, state: 'failed', text: long ? text : '', failure: t.failed(long ? HOSTILE.repeat(40) : t.reasons.quota!) } });
    }
  }
  return out;
}

describe('Feishu follow-up answer card', () => {
  it.each(followups().map((f) => [f.name, f.view] as const))('%s: within every card rule, under 30 KB, at most 3 tables', (_name, view) => {
    expect(problems(renderCard(view, THREADS.feishu))).toEqual([]);
  });

  it('names who asked with a mention, shows the question as plain text, keeps the linked citations, and notes the model and cost', () => {
    const t = strings('en').followup;
    const view: Followup = { kind: 'followup', lang: 'en', asker: 'ou_alice', question: 'Which study had the largest effect?', state: 'done', text: LINKED, footer: t.footer('qwen-plus', 4321, '¥0.01') };
    const card = renderCard(view, THREADS.feishu);
    const md = markdownOf(card).join('\n');
    expect(md).toContain('Question from <at id=ou_alice></at>');
    expect((card.header as { title: { tag: string; content: string } }).title).toEqual({ tag: 'plain_text', content: view.question });
    expect(md).toContain('[\\[1\\]](https://example.org/source-1)');
    expect(md).toContain("<font color='grey'>Answered from the report by qwen-plus · 4,321 tokens · estimated cost ¥0.01</font>");
    expect((card.header as { template: string }).template).toBe('green');
    expect(buttons(card)).toEqual([]);
  });

  it('neutralises tags in the question, the answer and the failure; only the asker is mentioned', () => {
    for (const { name, view } of followups()) {
      const card = renderCard(view, THREADS.feishu);
      const md = markdownOf(card).join('\n');
      expect(md.match(/<at /g) ?? [], name).toHaveLength(1);
      expect(md, name).not.toContain('<font color=red>');
      expect(md, name).not.toContain('<at id=all>');
      // A long question is in the card whole, as plain text (never Markdown); the header holds its start.
      if (view.question.length > 100) expect(plainTexts(card).some((p) => p.startsWith(view.question.slice(0, 500))), name).toBe(true);
      else expect((card.header as { title: { content: string } }).title.content, name).toBe(view.question);
    }
  });

  it('an asker that is not an open_id is shown as text, not as a mention', () => {
    const card = renderCard({ kind: 'followup', lang: 'en', asker: 'x></at><at id=all>', question: 'q', state: 'thinking', text: '' }, THREADS.feishu);
    expect(markdownOf(card).join('\n')).not.toMatch(/<at /);
  });

  it('shows progress while thinking, the failure when it failed, and cuts an answer too long for one card', () => {
    const t = strings('zh').followup;
    const thinking = renderCard({ kind: 'followup', lang: 'zh', asker: 'ou_a', question: 'q', state: 'thinking', text: t.thinking }, THREADS.feishu);
    expect(markdownOf(thinking).join('\n')).toContain(`⏳ ${t.thinking}`);
    const failed = renderCard({ kind: 'followup', lang: 'zh', asker: 'ou_a', question: 'q', state: 'failed', text: '', failure: t.failed(t.reasons.auth!) }, THREADS.feishu);
    expect(markdownOf(failed).join('\n')).toContain(`⚠️ ${t.failed(t.reasons.auth!)}`);
    expect((failed.header as { template: string }).template).toBe('red');
    const long = renderCard({ kind: 'followup', lang: 'zh', asker: 'ou_a', question: 'q', state: 'done', text: `${LINKED}\n\n${'长'.repeat(30_000)}` }, THREADS.feishu);
    expect(markdownOf(long).join('\n')).toMatch(/…$/m);
    expect(problems(long)).toEqual([]);
  });
});

describe('"Research further" on the finished progress card', () => {
  const done = (further: boolean, lang: Lang = 'en'): Extract<View, { kind: 'progress' }> => ({
    kind: 'progress',
    lang,
    topic: 'AI in education',
    state: 'done',
    progress: startProgress(0),
    words: 1200,
    further: further || undefined,
  });

  it('sits beside the feedback buttons on the patched card, carrying the thread', () => {
    const card = renderCard(done(true), THREADS.feishu);
    expect(buttons(card).map((b) => b.a)).toEqual(['feedback', 'feedback', 'further']);
    expect(buttons(card).every((b) => b.t === THREADS.feishu)).toBe(true);
    expect(JSON.stringify(card)).toContain(`🔍 ${strings('en').followup.button}`);
    expect(problems(card)).toEqual([]);
    expect(buttons(renderCard(done(false), THREADS.feishu)).map((b) => b.a)).toEqual(['feedback', 'feedback']);
  });

  it("is on the CardKit live card's final state too (in both languages)", () => {
    for (const lang of ['en', 'zh'] as Lang[]) {
      const card = liveProgressCard(done(true, lang), THREADS.feishu, '#### Report\n\nText.', false);
      expect(buttons(card).map((b) => b.a)).toEqual(['feedback', 'feedback', 'further']);
      expect(JSON.stringify(card)).toContain(strings(lang).followup.button);
      expect(problems(card)).toEqual([]);
    }
  });

  it('a click is the `further` action on the card it came from', () => {
    const card = renderCard(done(true), THREADS.feishu);
    const value = buttons(card).find((b) => b.a === 'further');
    expect(fromCardAction({ event_id: 'ev9', operator: { open_id: 'ou_bob' }, action: { tag: 'button', value }, context: { open_message_id: 'om_progress', open_chat_id: 'oc_g' } })).toEqual({
      platform: 'feishu',
      kind: 'action',
      action: 'further',
      thread: THREADS.feishu,
      messageId: 'om_progress',
      eventId: 'action:ev9',
      user: 'ou_bob',
      channel: 'oc_g',
    });
  });

  it('the question it leads to reads as "Research further" with its form, not "before I start"', () => {
    for (const lang of ['en', 'zh'] as Lang[]) {
      const t = strings(lang);
      const card = renderCard({ kind: 'clarify', lang, topic: 'AI in education', state: 'awaiting_answer', question: t.followup.focusQuestion, open: true }, THREADS.feishu);
      const md = markdownOf(card).join('\n');
      expect(md).toContain(`**🔍 ${t.followup.button}**`);
      expect(md).not.toContain(t.clarifyIntro);
      expect(md).toContain(t.followup.focusQuestion);
      expect(JSON.stringify(card)).toContain('"form_action_type":"submit"');
      expect(buttons(card).map((b) => b.a)).toEqual(['start-now', 'cancel']);
      expect(problems(card)).toEqual([]);
    }
  });
});
