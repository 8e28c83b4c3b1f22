import type { KnownBlock } from '@slack/types';
import { strings, type Strings } from '../../core/i18n.js';
import { elapsedSeconds, type Progress } from '../../core/progress.js';
import type { View } from '../platform.js';
import { escapeMrkdwn, neutraliseMarkdown } from './escape.js';

export const ACTIONS = { startNow: 'drb_start_now', cancel: 'drb_cancel', retry: 'drb_retry' } as const;

export interface SlackMessage {
  text: string;
  blocks: KnownBlock[];
}

const SECTION_MAX = 2900;
const ROUNDS_SHOWN = 8;

/** A view as a Slack message: Block Kit plus a short plain fallback. Everything from users or the model is escaped. */
export function renderView(view: View, thread: string): SlackMessage {
  const t = strings(view.lang);
  switch (view.kind) {
    case 'notice':
      return { text: clip(escapeMrkdwn(view.text), 3000), blocks: [section(escapeMrkdwn(view.text))] };
    case 'clarify':
      return clarify(view, thread, t);
    case 'progress':
      return progress(view, thread, t);
  }
}

function clarify(view: Extract<View, { kind: 'clarify' }>, thread: string, t: Strings): SlackMessage {
  const blocks: KnownBlock[] = [];
  if (view.failure) {
    blocks.push(section(`:warning: *${t.failed}* ${escapeMrkdwn(t.errors[view.failure.code])}`));
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
    blocks.push(context(`:white_check_mark: ${escapeMrkdwn(clip(view.answer, 500))}`));
  }
  return { text: `${t.clarifyIntro} ${clip(escapeMrkdwn(view.question), 3000)}`, blocks };
}

function progress(view: Extract<View, { kind: 'progress' }>, thread: string, t: Strings): SlackMessage {
  const p = view.progress;
  const status = statusLine(view, t);
  const blocks: KnownBlock[] = [section(`*${escapeMrkdwn(t.topic)}:* ${escapeMrkdwn(clip(view.topic, 500))}\n${status}`)];
  if (p && p.phase !== 'starting') blocks.push(context(phaseChecklist(p, view.state, t)));
  if (p && p.rounds.length > 0) blocks.push(section(roundLines(p, view.state === 'researching', t)));
  if (p) blocks.push(context(stats(p, view, t)));
  if (view.state === 'queued' || view.state === 'researching') blocks.push(buttons([[t.cancel, ACTIONS.cancel, 'danger']], thread));
  if (view.state === 'failed' && view.failure?.retryable) blocks.push(buttons([[t.retry, ACTIONS.retry, 'primary']], thread));
  return { text: `${escapeMrkdwn(clip(view.topic, 200))}: ${status}`, blocks };
}

function statusLine(view: Extract<View, { kind: 'progress' }>, t: Strings): string {
  switch (view.state) {
    case 'queued':
      return `:hourglass: ${view.position ? t.queued(view.position) : t.starting}`;
    case 'done':
      return `:white_check_mark: ${t.done}`;
    case 'cancelled':
      return `:no_entry_sign: ${t.cancelled}`;
    case 'failed':
      return `:warning: *${t.failed}* ${escapeMrkdwn(view.failure ? t.errors[view.failure.code] : '')}`;
    default: {
      const phase = view.progress?.phase ?? 'starting';
      return `:mag: ${t.phase[phase] ?? phase}…`;
    }
  }
}

const PHASES = ['planning', 'searching', 'writing'] as const;

/** Every phase with its state, so that a coalesced edit still shows each phase the research went through. */
function phaseChecklist(p: Progress, state: Extract<View, { kind: 'progress' }>['state'], t: Strings): string {
  const current = PHASES.indexOf(p.phase as (typeof PHASES)[number]);
  return PHASES.map((phase, i) => {
    const icon =
      i < current || (i === current && state === 'done')
        ? ':white_check_mark:'
        : i === current
          ? state === 'researching'
            ? ':arrows_counterclockwise:'
            : ':heavy_multiplication_x:'
          : ':white_circle:';
    return `${icon} ${t.phase[phase]}`;
  }).join('   ');
}

function roundLines(p: Progress, live: boolean, t: Strings): string {
  const shown = p.rounds.slice(-ROUNDS_SHOWN);
  const lines = shown.map((r, i) => {
    const current = live && i === shown.length - 1 && !r.finished && p.phase === 'searching';
    const icon = current ? ':arrows_counterclockwise:' : ':white_check_mark:';
    const query = r.query ? `“${escapeMrkdwn(clip(r.query, 200))}”` : '…';
    return `${icon} ${t.round(r.round)}: ${query} · ${t.sources(r.sites)}`;
  });
  if (p.rounds.length > shown.length) lines.unshift(`… +${p.rounds.length - shown.length}`);
  return clip(lines.join('\n'), SECTION_MAX);
}

function stats(p: Progress, view: Extract<View, { kind: 'progress' }>, t: Strings): string {
  const elapsed = t.elapsed(elapsedSeconds(p));
  if (view.state === 'done' && view.words !== undefined) return t.doneSummary(elapsed, p.sources, view.words);
  const parts = [t.sources(p.sources), elapsed];
  if (p.usage) parts.push(t.tokens(p.usage.inputTokens + p.usage.outputTokens));
  return parts.join(' · ');
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

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
