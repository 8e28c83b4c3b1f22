import { describe, expect, it } from 'vitest';
import { strings } from '../../src/core/i18n.js';
import type { View } from '../../src/core/ports/chat.js';
import { feedbackToast, liveProgressCard, renderCard, reportCard, type Card } from '../../src/platforms/feishu/cards.js';
import { allViews, THREADS } from '../fixtures/views.js';
import { problems } from './card-rules.js';

type El = Record<string, unknown>;

const views = allViews();
const actionsOf = (card: Card) => {
  const out: { a: string; t: string }[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const el = v as El;
      if (el.tag === 'button' && Array.isArray(el.behaviors)) out.push((el.behaviors as { value: { a: string; t: string } }[])[0]!.value);
      Object.values(el).forEach(walk);
    }
  };
  walk(card.body);
  return out;
};

describe('Feishu renderCard', () => {
  it.each(views.map((v) => [v.name, v.view] as const))('%s: within every card JSON 2.0 rule of the rule table, under 30 KB', (_name, view) => {
    expect(problems(renderCard(view, THREADS.feishu))).toEqual([]);
  });

  it('report cards keep the rules too', () => {
    expect(problems(reportCard('Report', '#### Heading\n\nText with [a link](https://example.org).'))).toEqual([]);
  });

  it('buttons carry the thread key and appear only while they can act; the answer form only while the question is open', () => {
    for (const { name, view } of views) {
      const card = renderCard(view, THREADS.feishu);
      const actions = actionsOf(card);
      for (const a of actions) expect(a.t, name).toBe(THREADS.feishu);
      const names = actions.map((a) => a.a);
      const form = JSON.stringify(card).includes('"tag":"form"');
      if (view.kind === 'clarify' && view.failure) expect(names, name).toEqual(view.failure.retryable ? ['retry'] : []);
      else if (view.kind === 'clarify') {
        const open = !!view.question && view.open;
        expect(names, name).toEqual(open ? ['start-now', 'cancel'] : []);
        expect(form, name).toBe(open);
      } else if (view.kind === 'progress') {
        const expected =
          view.state === 'queued' || view.state === 'researching'
            ? ['cancel']
            : view.state === 'failed' && view.failure?.retryable
              ? ['retry']
              : view.state === 'done'
                ? ['feedback', 'feedback']
                : [];
        expect(names, name).toEqual(expected);
      } else expect(names, name).toEqual([]);
      if (view.kind !== 'clarify') expect(form, name).toBe(false);
    }
  });

  it('text from people and the model forms no mention and no card markup', () => {
    for (const { name, view } of views) {
      const card = renderCard(view, THREADS.feishu);
      const markdown: string[] = [];
      const walk = (v: unknown) => {
        if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === 'object') {
          const el = v as El;
          if (el.tag === 'markdown') markdown.push(String(el.content));
          Object.values(el).forEach(walk);
        }
      };
      walk(card.body);
      for (const token of ['<at', '<font color=red', '[a]($url)']) expect(markdown.join('\n'), name).not.toContain(token);
    }
  });

  it('a finished progress card (patched and live) offers 👍 / 👎 feedback naming the thread, within the card rules', () => {
    for (const lang of ['en', 'zh'] as const) {
      const done = { ...views.find((v) => v.name === 'progress done, written (en)')!.view, lang } as Extract<View, { kind: 'progress' }>;
      for (const card of [renderCard(done, THREADS.feishu), liveProgressCard(done, THREADS.feishu, '#### Report\n\nText.', false)]) {
        expect(problems(card)).toEqual([]);
        const buttons = JSON.stringify(card);
        const t = strings(lang);
        expect(buttons).toContain(JSON.stringify({ tag: 'plain_text', content: `👍 ${t.feedbackGood}` }));
        expect(buttons).toContain(JSON.stringify({ tag: 'plain_text', content: `👎 ${t.feedbackBad}` }));
        expect(actionsOf(card)).toEqual([
          { a: 'feedback', v: 'good', t: THREADS.feishu },
          { a: 'feedback', v: 'bad', t: THREADS.feishu },
        ]);
      }
    }
    expect(feedbackToast('bad')).toEqual({ toast: { type: 'success', content: '👎 Not helpful', i18n: { zh_cn: '👎 没帮助', en_us: '👎 Not helpful' } } });
  });

  it('a progress card is green once done and red once failed, and shows the search rounds', () => {
    const done = views.find((v) => v.name === 'progress done, written (en)')!.view;
    const failed = views.find((v) => v.name === 'progress failed, written (en)')!.view;
    expect((renderCard(done, THREADS.feishu).header as { template: string }).template).toBe('green');
    expect((renderCard(failed, THREADS.feishu).header as { template: string }).template).toBe('red');
    expect(JSON.stringify(renderCard(done, THREADS.feishu))).toContain('query 3');
  });
});
