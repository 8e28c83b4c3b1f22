import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ACTIONS, renderView } from '../../src/platforms/slack/blocks.js';
import { allViews, THREADS } from '../fixtures/views.js';

/** test/fixtures/samples/slack/block-kit-limits.json: Slack's documented limits, each with its source. */
const rules = JSON.parse(readFileSync(new URL('../fixtures/samples/slack/block-kit-limits.json', import.meta.url), 'utf8')) as {
  message: Record<string, { value: number }>;
  block: Record<string, { max?: number; min?: number; maxItems?: number; minItems?: number; allowed?: string[] }>;
  element: Record<string, { max?: number; enum?: string[]; type?: string }>;
  composition: { text: { types: string[]; min: number; max: number } };
};

type Obj = Record<string, unknown>;
type TextObject = { type: string; text: string; emoji?: boolean; verbatim?: boolean };

/** Every rule of the table that applies to the blocks the bot sends, as a list of broken ones. */
function problems(message: { text: string; blocks: unknown[] }): string[] {
  const out: string[] = [];
  const check = (ok: boolean, what: string) => ok || out.push(what);
  const text = (t: TextObject | undefined, where: string, max = rules.composition.text.max) => {
    check(t !== undefined && rules.composition.text.types.includes(t.type), `${where}: a text object`);
    if (!t) return;
    check(t.text.length >= rules.composition.text.min && t.text.length <= max, `${where}: ${t.text.length} characters (${rules.composition.text.min}–${max})`);
    check(t.emoji === undefined || t.type === 'plain_text', `${where}: emoji only on plain_text`);
    check(t.verbatim === undefined || t.type === 'mrkdwn', `${where}: verbatim only on mrkdwn`);
  };
  check(message.text.length > 0 && message.text.length <= rules.message.textMax!.value, `text: ${message.text.length} characters`);
  check(message.blocks.length <= rules.message.maxBlocks!.value, `${message.blocks.length} blocks`);
  let markdown = 0;
  const blockIds = new Set<string>();
  (message.blocks as Obj[]).forEach((b, i) => {
    const where = `block ${i} (${String(b.type)})`;
    if (b.block_id !== undefined) {
      check(String(b.block_id).length <= rules.block.block_id!.max! && !blockIds.has(String(b.block_id)), `${where}: block_id`);
      blockIds.add(String(b.block_id));
    }
    switch (b.type) {
      case 'section':
        text(b.text as TextObject, `${where} text`, rules.block['section.text']!.max);
        check(b.fields === undefined, `${where}: fields are not used`);
        break;
      case 'context': {
        const els = b.elements as TextObject[];
        const r = rules.block['context.elements']!;
        check(els.length >= r.minItems! && els.length <= r.maxItems!, `${where}: ${els.length} elements`);
        els.forEach((e, j) => {
          check(r.allowed!.includes(e.type), `${where} element ${j}: ${e.type}`);
          text(e, `${where} element ${j}`);
        });
        break;
      }
      case 'actions': {
        const els = b.elements as Obj[];
        const r = rules.block['actions.elements']!;
        check(els.length >= r.minItems! && els.length <= r.maxItems!, `${where}: ${els.length} elements`);
        const ids = new Set<string>();
        els.forEach((e, j) => {
          const at = `${where} button ${j}`;
          check(e.type === 'button', `${at}: a button`);
          const label = e.text as TextObject;
          check(label.type === rules.element['button.text']!.type, `${at}: plain_text label`);
          text(label, `${at} label`, rules.element['button.text']!.max);
          const actionId = String(e.action_id);
          check(actionId.length <= rules.element.action_id!.max! && !ids.has(actionId), `${at}: action_id`);
          ids.add(actionId);
          check(e.value === undefined || String(e.value).length <= rules.element['button.value']!.max!, `${at}: value`);
          check(e.style === undefined || rules.element['button.style']!.enum!.includes(String(e.style)), `${at}: style ${String(e.style)}`);
        });
        break;
      }
      case 'markdown':
        markdown += String(b.text).length;
        check(String(b.text).length <= rules.block['markdown.text']!.max!, `${where}: ${String(b.text).length} characters`);
        break;
      default:
        out.push(`${where}: a block type the bot does not send`);
    }
  });
  check(markdown <= rules.message.markdownBlocksTotalMax!.value, `markdown blocks: ${markdown} characters in all`);
  return out;
}

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
