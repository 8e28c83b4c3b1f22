import type { KnownBlock } from '@slack/types';
import { failureText, strings, type Strings } from '../../core/i18n.js';
import { clip, progressText, type Marks } from '../../core/progress-text.js';
import type { View } from '../../core/ports/chat.js';
import { escapeClipped, escapeMrkdwn, neutraliseMarkdown } from './escape.js';
import { renderFollowup } from './followup-view.js';

export const ACTIONS = { startNow: 'drb_start_now', cancel: 'drb_cancel', retry: 'drb_retry', feedback: 'drb_feedback', further: 'drb_further' } as const;

export interface SlackMessage {
  text: string;
  blocks: KnownBlock[];
}

const SECTION_MAX = 2900;

/** A view as a Slack message: Block Kit plus a short plain fallback. Everything from users or the model is escaped. */
export function renderView(view: View, thread: string): SlackMessage {
  const t = strings(view.lang);
  switch (view.kind) {
    case 'notice':
      return { text: escapeClipped(view.text, 3000), blocks: [section(escapeMrkdwn(view.text))] };
    case 'clarify':
      return clarify(view, thread, t);
    case 'progress':
      return progress(view, thread, t);
    case 'followup':
      return renderFollowup(view);
  }
}

function clarify(view: Extract<View, { kind: 'clarify' }>, thread: string, t: Strings): SlackMessage {
  const blocks: KnownBlock[] = [];
  if (view.failure) {
    blocks.push(section(`:warning: *${t.failed}* ${escapeMrkdwn(failureText(t, view.failure))}`));
    if (view.failure.retryable) blocks.push(buttons([[t.retry, ACTIONS.retry, 'primary']], thread));
    return { text: t.failed, blocks };
  }
  if (!view.question) {
    const text = view.state === 'cancelled' ? t.cancelled : t.thinking;
    return { text, blocks: [context(view.state === 'cancelled' ? `:no_entry_sign: ${text}` : `:hourglass_flowing_sand: ${text}`)] };
  }
  blocks.push(section(`*${t.clarifyIntro}*`), { type: 'markdown', text: clip(neutraliseMarkdown(view.question), 11_000) } as KnownBlock);
  if (view.open) {
    blocks.push(context(escapeMrkdwn(t.clarifyHint)));
    blocks.push(buttons([[t.startNow, ACTIONS.startNow, 'primary'], [t.cancel, ACTIONS.cancel, 'danger']], thread));
  } else if (view.state === 'cancelled') {
    blocks.push(context(`:no_entry_sign: ${t.cancelled}`));
  } else if (view.answer) {
    blocks.push(context(`:white_check_mark: ${escapeClipped(view.answer, 500)}`));
  }
  return { text: `${t.clarifyIntro} ${escapeClipped(view.question, 3000)}`, blocks };
}

const MARKS: Marks = {
  done: ':white_check_mark:',
  current: ':arrows_counterclockwise:',
  stopped: ':heavy_multiplication_x:',
  todo: ':white_circle:',
  queued: ':hourglass:',
  cancelled: ':no_entry_sign:',
  failed: ':warning:',
  searching: ':mag:',
  bold: (s) => `*${s}*`,
  escape: escapeMrkdwn,
};

function progress(view: Extract<View, { kind: 'progress' }>, thread: string, t: Strings): SlackMessage {
  const { status, checklist, rounds, stats } = progressText(view, t, MARKS);
  const blocks: KnownBlock[] = [section(`*${escapeMrkdwn(t.topic)}:* ${escapeClipped(view.topic, 500)}\n${status}`)];
  if (checklist) blocks.push(context(checklist));
  if (rounds) blocks.push(section(rounds));
  if (stats) blocks.push(context(stats));
  if (view.state === 'queued' || view.state === 'researching') blocks.push(buttons([[t.cancel, ACTIONS.cancel, 'danger']], thread));
  if (view.state === 'failed' && view.failure?.retryable) blocks.push(buttons([[t.retry, ACTIONS.retry, 'primary']], thread));
  if (view.state === 'done' && view.further) blocks.push(furtherButton(view.lang, thread));
  return { text: `${escapeClipped(view.topic, 200)}: ${status}`, blocks };
}

/** A run's first message once its progress streams below it: the topic, and where to look. */
export function renderHeader(view: Extract<View, { kind: 'progress' }>): SlackMessage {
  const t = strings(view.lang);
  const text = `*${escapeMrkdwn(t.topic)}:* ${escapeClipped(view.topic, 500)}  ${t.progressBelow}`;
  return { text: `${escapeClipped(view.topic, 200)} ${t.progressBelow}`, blocks: [section(text)] };
}

/** "Research further" under a finished report: asks what to focus on, then researches that in the same thread. */
export function furtherButton(lang: View['lang'], thread: string): KnownBlock {
  return buttons([[strings(lang).followup.button, ACTIONS.further, 'primary']], thread);
}

function section(text: string): KnownBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: clip(text, SECTION_MAX) } };
}

function context(text: string): KnownBlock {
  return { type: 'context', elements: [{ type: 'mrkdwn', text: clip(text, SECTION_MAX) }] };
}

function buttons(list: [string, string, 'primary' | 'danger'][], thread: string): KnownBlock {
  return {
    type: 'actions',
    elements: list.map(([label, actionId, style]) => ({
      type: 'button',
      text: { type: 'plain_text', text: label },
      action_id: actionId,
      value: thread,
      style,
    })),
  };
}
