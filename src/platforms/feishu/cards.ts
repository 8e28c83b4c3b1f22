import { strings, type Strings } from '../../core/i18n.js';
import { elapsedSeconds, type Progress } from '../../core/progress.js';
import type { ActionName, View } from '../platform.js';
import { cardMarkdown } from './escape.js';
import type { ButtonValue } from './inbound.js';

/** A card JSON 2.0 object. */
export type Card = Record<string, unknown>;
type Element = Record<string, unknown>;

const ROUNDS_SHOWN = 8;
const TITLE = 'Deep Research';

/** A view as a card. Text from people or the model goes in plain_text elements or through cardMarkdown. */
export function renderCard(view: View, thread: string): Card {
  const t = strings(view.lang);
  switch (view.kind) {
    case 'notice':
      return card(TITLE, 'grey', [plain(view.text)], view.text);
    case 'clarify':
      return clarifyCard(view, thread, t);
    case 'progress':
      return progressCard(view, thread, t);
  }
}

function clarifyCard(view: Extract<View, { kind: 'clarify' }>, thread: string, t: Strings): Card {
  if (view.failure) {
    const els = [md(`⚠️ **${t.failed}** ${t.errors[view.failure.code]}`)];
    if (view.failure.retryable) els.push(buttons([[t.retry, 'retry', 'primary']], thread));
    return card(view.topic, 'red', els, t.failed);
  }
  if (!view.question) {
    return card(view.topic, 'grey', [md(view.state === 'cancelled' ? `🚫 ${t.cancelled}` : `⏳ ${t.thinking}`)], t.thinking);
  }
  const els: Element[] = [md(`**${t.clarifyIntro}**`), md(cardMarkdown(clip(view.question, 8000)))];
  if (view.open) {
    els.push(md(`*${t.clarifyHint}*`));
    els.push({
      tag: 'form',
      name: 'answer_form',
      elements: [
        { tag: 'input', name: 'answer', placeholder: { tag: 'plain_text', content: t.answerPlaceholder }, max_length: 1000 },
        button(t.submit, 'answer', 'primary', thread, { name: 'submit', form_action_type: 'submit' }),
      ],
    });
    els.push(buttons([[t.startNow, 'start-now', 'default'], [t.cancel, 'cancel', 'danger']], thread));
  } else if (view.state === 'cancelled') {
    els.push(md(`🚫 ${t.cancelled}`));
  } else if (view.answer) {
    els.push(plain(`✅ ${clip(view.answer, 500)}`));
  }
  return card(view.topic, view.open ? 'blue' : 'grey', els, `${t.clarifyIntro} ${clip(view.question, 100)}`);
}

function progressCard(view: Extract<View, { kind: 'progress' }>, thread: string, t: Strings): Card {
  const p = view.progress;
  const status = statusLine(view, t);
  const els: Element[] = [md(status)];
  if (p && p.phase !== 'starting') els.push(md(phaseChecklist(p, view.state, t)));
  if (p && p.rounds.length > 0) els.push(plain(roundLines(p, view.state === 'researching', t)));
  if (p) els.push(md(`<font color='grey'>${stats(p, view, t)}</font>`));
  if (view.state === 'queued' || view.state === 'researching') els.push(buttons([[t.cancel, 'cancel', 'danger']], thread));
  if (view.state === 'failed' && view.failure?.retryable) els.push(buttons([[t.retry, 'retry', 'primary']], thread));
  const template = view.state === 'done' ? 'green' : view.state === 'failed' ? 'red' : view.state === 'cancelled' ? 'grey' : 'blue';
  return card(view.topic, template, els, view.topic);
}

function statusLine(view: Extract<View, { kind: 'progress' }>, t: Strings): string {
  switch (view.state) {
    case 'queued':
      return `⏳ ${view.position ? t.queued(view.position) : t.starting}`;
    case 'done':
      return `✅ ${t.done}`;
    case 'cancelled':
      return `🚫 ${t.cancelled}`;
    case 'failed':
      return `⚠️ **${t.failed}** ${view.failure ? t.errors[view.failure.code] : ''}`;
    default: {
      const phase = view.progress?.phase ?? 'starting';
      return `🔎 ${t.phase[phase] ?? phase}…`;
    }
  }
}

const PHASES = ['planning', 'searching', 'writing'] as const;

function phaseChecklist(p: Progress, state: Extract<View, { kind: 'progress' }>['state'], t: Strings): string {
  const current = PHASES.indexOf(p.phase as (typeof PHASES)[number]);
  return PHASES.map((phase, i) => {
    const icon = i < current || (i === current && state === 'done') ? '✅' : i === current ? (state === 'researching' ? '🔄' : '✖️') : '⚪';
    return `${icon} ${t.phase[phase]}`;
  }).join('   ');
}

function roundLines(p: Progress, live: boolean, t: Strings): string {
  const shown = p.rounds.slice(-ROUNDS_SHOWN);
  const lines = shown.map((r, i) => {
    const current = live && i === shown.length - 1 && !r.finished && p.phase === 'searching';
    return `${current ? '🔄' : '✅'} ${t.round(r.round)}: ${r.query ? `“${clip(r.query, 200)}”` : '…'} · ${t.sources(r.sites)}`;
  });
  if (p.rounds.length > shown.length) lines.unshift(`… +${p.rounds.length - shown.length}`);
  return lines.join('\n');
}

function stats(p: Progress, view: Extract<View, { kind: 'progress' }>, t: Strings): string {
  const elapsed = t.elapsed(elapsedSeconds(p));
  if (view.state === 'done' && view.words !== undefined) return t.doneSummary(elapsed, p.sources, view.words);
  const parts = [t.sources(p.sources), elapsed];
  if (p.usage) parts.push(t.tokens(p.usage.inputTokens + p.usage.outputTokens));
  return parts.join(' · ');
}

/** A report part (already split and neutralised) as a card. */
export function reportCard(title: string, markdown: string): Card {
  return card(title, 'green', [md(markdown)], title);
}

export function card(title: string, template: string, elements: Element[], summary: string): Card {
  return {
    schema: '2.0',
    config: { update_multi: true, summary: { content: clip(summary.replace(/\s+/g, ' '), 100) } },
    header: { title: { tag: 'plain_text', content: clip(title || TITLE, 100) }, template },
    body: { elements },
  };
}

function md(content: string): Element {
  return { tag: 'markdown', content };
}

function plain(content: string): Element {
  return { tag: 'div', text: { tag: 'plain_text', content: clip(content, 4000) } };
}

function button(label: string, action: ActionName, type: string, thread: string, extra: Element = {}): Element {
  const value: ButtonValue = { a: action, t: thread };
  return { tag: 'button', text: { tag: 'plain_text', content: label }, type, behaviors: [{ type: 'callback', value }], ...extra };
}

function buttons(list: [string, ActionName, string][], thread: string): Element {
  return {
    tag: 'column_set',
    flex_mode: 'none',
    columns: list.map(([label, action, type]) => ({ tag: 'column', width: 'auto', elements: [button(label, action, type, thread)] })),
  };
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
