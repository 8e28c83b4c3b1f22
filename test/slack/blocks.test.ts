import { describe, expect, it } from 'vitest';
import { ACTIONS, renderView } from '../../src/platforms/slack/blocks.js';
import { allViews, THREADS } from '../fixtures/views.js';
import { problems, rules, type Obj } from './block-rules.js';

const views = allViews();
const buttons = (m: { blocks: unknown[] }) =>
  (m.blocks as Obj[]).filter((b) => b.type === 'actions').flatMap((b) => (b.elements as { action_id: string; value: string }[]).map((e) => [e.action_id, e.value]));

describe('Slack renderView', () => {
  it.each(views.map((v) => [v.name, v.view] as const))('%s: within every Block Kit limit of the rule table', (_name, view) => {
    expect(problems(renderView(view, THREADS.slack))).toEqual([]);
  });

  it('the rule table is the one the checks read', () => {
    expect(rules.message.maxBlocks!.value).toBe(50);
    expect(rules.block['section.text']!.max).toBe(3000);
    expect(rules.element['button.text']!.max).toBe(75);
  });

  it('buttons carry the thread key and appear only while they can act', () => {
    for (const { name, view } of views) {
      const m = renderView(view, THREADS.slack);
      const got = buttons(m);
      for (const [, value] of got) expect(value, name).toBe(THREADS.slack);
      const ids = got.map(([id]) => id);
      if (view.kind === 'clarify' && view.failure) expect(ids, name).toEqual(view.failure.retryable ? [ACTIONS.retry] : []);
      else if (view.kind === 'clarify') expect(ids, name).toEqual(view.question && view.open ? [ACTIONS.startNow, ACTIONS.cancel] : []);
      else if (view.kind === 'progress') {
        const expected = view.state === 'queued' || view.state === 'researching' ? [ACTIONS.cancel] : view.state === 'failed' && view.failure?.retryable ? [ACTIONS.retry] : [];
        expect(ids, name).toEqual(expected);
      } else expect(ids, name).toEqual([]);
    }
  });

  it('text from people and the model cannot mention anyone or form a link', () => {
    for (const { name, view } of views) {
      const all = JSON.stringify(renderView(view, THREADS.slack));
      for (const token of ['<!channel>', '<@U123>', '<https://evil.example|']) expect(all, name).not.toContain(token);
    }
  });

  it('a progress view shows the topic, the search rounds and, once done, every phase as done', () => {
    const done = views.find((v) => v.name === 'progress done, written (en)')!.view;
    const m = renderView(done, THREADS.slack);
    const all = JSON.stringify(m.blocks);
    expect(m.text).toContain('solid-state batteries');
    expect(all).toMatch(/white_check_mark: Planning the research.*white_check_mark: Searching the web.*white_check_mark: Writing the report/);
    expect(all).toContain('query 3');
  });
});
