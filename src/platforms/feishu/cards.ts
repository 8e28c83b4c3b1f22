import { failureText, strings, type Strings } from '../../core/i18n.js';
import { clip, progressText, type Marks } from '../../core/progress-text.js';
import type { ActionName, Feedback, View } from '../../core/ports/chat.js';
import { card, md, plain, TITLE, type Card, type Element } from './card-elements.js';
import { cardMarkdown } from './escape.js';
import { followupCard } from './followup-card.js';
import { FEEDBACK, FORM, type ButtonValue, type FeedbackValue } from './inbound.js';

export { card, type Card };

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
    case 'followup':
      return followupCard(view);
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
  // "Research further" asks what to focus on: the card says so instead of "before I start".
  const intro = view.question === t.followup.focusQuestion ? `🔍 ${t.followup.button}` : t.clarifyIntro;
  const els: Element[] = [md(`**${intro}**`), md(cardMarkdown(clip(view.question, 8000)))];
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
  return card(view.topic, view.open ? 'blue' : 'grey', els, `${intro} ${clip(view.question, 100)}`);
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
  const actions = progressButtons(view, thread, t);
  if (actions) els.push(actions);
  return card(view.topic, progressTemplate(view), els, view.topic);
}

/**
 * Element ids of the live progress card (a CardKit card entity). CardKit addresses elements by id, so the
 * streamed card gives each part of the progress its own: the report's text streams into `report`.
 */
export const LIVE = {
  status: 'status',
  checklist: 'checklist',
  rounds: 'rounds',
  stats: 'stats',
  actions: 'actions',
  divider: 'report_hr',
  report: 'report',
} as const;

/** Which changed element goes first when only one can be sent: where the run is before the details. */
export const LIVE_PRIORITY: string[] = [LIVE.status, LIVE.checklist, LIVE.actions, LIVE.rounds, LIVE.report, LIVE.stats];

/** How Feishu types out streamed text: quickly, so the card keeps up with the model. */
const STREAMING_CONFIG = { print_frequency_ms: { default: 30 }, print_step: { default: 2 }, print_strategy: 'fast' };

/**
 * The progress view as a CardKit card entity: the same lines as the patched card, each element with its id, then
 * the report written so far (`report`, already neutralised Markdown) under a divider. `streaming`: the card types
 * out text updates (streaming_mode), which is on while the run goes and off in the final card.
 */
export function liveProgressCard(view: Extract<View, { kind: 'progress' }>, thread: string, report: string, streaming: boolean): Card {
  const t = strings(view.lang);
  const text = progressText(view, t, MARKS);
  let lines = text.rounds?.split('\n') ?? [];
  let status = text.status;
  let c = liveCard(view, thread, t, { ...text, status, rounds: lines.join('\n') });
  // The progress lines stay within LIVE_PROGRESS_MAX_BYTES, so the report has the rest of the card: the oldest rounds go first.
  while (Buffer.byteLength(JSON.stringify(c)) > LIVE_PROGRESS_MAX_BYTES && (lines.length > 1 || status.length > 300)) {
    if (lines.length > 1) lines = lines.slice(lines[0]!.startsWith('…') ? 2 : 1);
    else status = clip(status, 300);
    const hidden = (view.progress?.rounds.length ?? 0) - lines.length;
    c = liveCard(view, thread, t, { ...text, status, rounds: [...(hidden > 0 ? [`… +${hidden}`] : []), ...lines].join('\n') });
  }
  if (!report) return withStreaming(c, streaming);
  const body = c.body as { elements: Element[] };
  return withStreaming({ ...c, body: { elements: [...body.elements, { tag: 'hr', element_id: LIVE.divider }, md(report, LIVE.report)] } }, streaming);
}

/** The progress lines of a live card, in the card without the report. At most this many bytes of card JSON. */
export const LIVE_PROGRESS_MAX_BYTES = 5_000;

function liveCard(view: Extract<View, { kind: 'progress' }>, thread: string, t: Strings, text: { status: string; checklist?: string; rounds?: string; stats?: string }): Card {
  const els: Element[] = [md(text.status, LIVE.status)];
  if (text.checklist) els.push(md(text.checklist, LIVE.checklist));
  if (text.rounds) els.push({ ...plain(text.rounds), element_id: LIVE.rounds });
  // Plain Markdown (no <font>): the line changes every second and streams as text.
  if (text.stats) els.push(md(text.stats, LIVE.stats));
  const actions = progressButtons(view, thread, t);
  if (actions) els.push({ ...actions, element_id: LIVE.actions });
  return card(view.topic, progressTemplate(view), els, view.topic);
}

/** What a live card becomes once a fresh one carries on below it: a pointer, so nothing shows twice. */
export function continuedCard(view: Extract<View, { kind: 'progress' }>): Card {
  const t = strings(view.lang);
  return withStreaming(card(view.topic, 'grey', [md(`⤵️ ${t.progressContinuesBelow}`)], view.topic), false);
}

/** A card with streaming_mode set (and how streamed text is typed out while it is on). */
export function withStreaming(c: Card, streaming: boolean): Card {
  const config = { ...(c.config as Record<string, unknown>), streaming_mode: streaming, ...(streaming ? { streaming_config: STREAMING_CONFIG } : {}) };
  return { ...c, config };
}

function progressButtons(view: Extract<View, { kind: 'progress' }>, thread: string, t: Strings): Element | undefined {
  if (view.state === 'queued' || view.state === 'researching') return buttons([[t.cancel, 'cancel', 'danger']], thread);
  if (view.state === 'failed' && view.failure?.retryable) return buttons([[t.retry, 'retry', 'primary']], thread);
  if (view.state === 'done') return feedbackButtons(thread, t, view.further === true);
  return undefined;
}

/**
 * 👍 / 👎 on a finished run's progress card. They stay on the card, so a person can change their mind: each click
 * is a feedback on the thread named in the value, and the person's last one counts. `further`: with "Research
 * further" beside them, which asks what to focus on and takes the report further in this thread.
 */
function feedbackButtons(thread: string, t: Strings, further: boolean): Element {
  const one = (v: Feedback): Element => {
    const value: FeedbackValue = { a: FEEDBACK, v, t: thread };
    return { tag: 'column', width: 'auto', elements: [{ tag: 'button', text: { tag: 'plain_text', content: feedbackLabel(t, v) }, type: 'default', behaviors: [{ type: 'callback', value }] }] };
  };
  const more = further ? [{ tag: 'column', width: 'auto', elements: [button(`🔍 ${t.followup.button}`, 'further', 'primary', thread)] }] : [];
  return { tag: 'column_set', flex_mode: 'none', columns: [one('good'), one('bad'), ...more] };
}

function feedbackLabel(t: Strings, v: Feedback): string {
  return v === 'good' ? `👍 ${t.feedbackGood}` : `👎 ${t.feedbackBad}`;
}

/** The callback's answer to a feedback click: a toast naming the choice, in the reader's client language. */
export function feedbackToast(v: Feedback): { toast: { type: 'success'; content: string; i18n: { zh_cn: string; en_us: string } } } {
  const en = feedbackLabel(strings('en'), v);
  return { toast: { type: 'success', content: en, i18n: { zh_cn: feedbackLabel(strings('zh'), v), en_us: en } } };
}

function progressTemplate(view: Extract<View, { kind: 'progress' }>): string {
  return view.state === 'done' ? 'green' : view.state === 'failed' ? 'red' : view.state === 'cancelled' ? 'grey' : 'blue';
}

/** A report part (already split and neutralised) as a card. */
export function reportCard(title: string, markdown: string): Card {
  return card(title, 'green', [md(markdown)], title);
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
