import { failureText, strings, type Strings } from '../../core/i18n.js';
import { clip, progressText, type Marks } from '../../core/progress-text.js';
import type { ActionName, View } from '../../core/ports/chat.js';
import { cardMarkdown } from './escape.js';
import { FORM, type ButtonValue } from './inbound.js';

/** A card JSON 2.0 object. */
export type Card = Record<string, unknown>;
type Element = Record<string, unknown>;

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
    const els = [md(`⚠️ **${t.failed}** ${failureText(t, view.failure)}`)];
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
        { tag: 'input', name: FORM.input, placeholder: { tag: 'plain_text', content: t.answerPlaceholder }, max_length: 1000 },
        // A form's buttons take no behaviors (card JSON 2.0 form rules): the submit callback names the button and
        // carries form_value; the thread is found by the card's message id.
        { tag: 'button', text: { tag: 'plain_text', content: t.submit }, type: 'primary', name: FORM.submit, form_action_type: 'submit' },
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

const MARKS: Marks = {
  done: '✅',
  current: '🔄',
  stopped: '✖️',
  todo: '⚪',
  queued: '⏳',
  cancelled: '🚫',
  failed: '⚠️',
  searching: '🔎',
  bold: (s) => `**${s}**`,
  // Only our own strings go into markdown here; the model's queries go into a plain_text element.
  escape: (s) => s,
};

function progressCard(view: Extract<View, { kind: 'progress' }>, thread: string, t: Strings): Card {
  const { status, checklist, rounds, stats } = progressText(view, t, MARKS);
  const els: Element[] = [md(status)];
  if (checklist) els.push(md(checklist));
  if (rounds) els.push(plain(rounds));
  if (stats) els.push(md(`<font color='grey'>${stats}</font>`));
  if (view.state === 'queued' || view.state === 'researching') els.push(buttons([[t.cancel, 'cancel', 'danger']], thread));
  if (view.state === 'failed' && view.failure?.retryable) els.push(buttons([[t.retry, 'retry', 'primary']], thread));
  const template = view.state === 'done' ? 'green' : view.state === 'failed' ? 'red' : view.state === 'cancelled' ? 'grey' : 'blue';
  return card(view.topic, template, els, view.topic);
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

function button(label: string, action: ActionName, type: string, thread: string): Element {
  const value: ButtonValue = { a: action, t: thread };
  return { tag: 'button', text: { tag: 'plain_text', content: label }, type, behaviors: [{ type: 'callback', value }] };
}

function buttons(list: [string, ActionName, string][], thread: string): Element {
  return {
    tag: 'column_set',
    flex_mode: 'none',
    columns: list.map(([label, action, type]) => ({ tag: 'column', width: 'auto', elements: [button(label, action, type, thread)] })),
  };
}
