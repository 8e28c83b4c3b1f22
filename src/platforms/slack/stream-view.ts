import type { KnownBlock } from '@slack/types';
import { isHttpUrl } from '../../common/markdown.js';
import { failureText, strings, type Strings } from '../../core/i18n.js';
import type { View } from '../../core/ports/chat.js';
import { clip } from '../../core/progress-text.js';
import { elapsedSeconds, type Progress } from '../../core/progress.js';
import { draftMarkdown } from '../../core/report.js';
import { ACTIONS, furtherButton } from './blocks.js';
import { escapeClipped, escapeMrkdwn, escapePlain, neutraliseMarkdown } from './escape.js';

export type ProgressView = Extract<View, { kind: 'progress' }>;
export type TaskStatus = 'pending' | 'in_progress' | 'complete' | 'error';

/** Slack caps a task's title and details, and the plan's title, at about 256 characters each. */
export const FIELD_MAX = 250;
/** Sources shown under one round. */
const SOURCES_MAX = 10;

/** One task card of the streamed plan: a phase of the research or one search round. */
export interface StreamTask {
  /** Stable across updates (`phase:searching`, `round:3`); Slack replaces a task's title and status by it. */
  id: string;
  /** The task without what the model wrote (`Round 3`): what stays behind when the task continues in the next message. */
  label: string;
  title: string;
  status: TaskStatus;
  /** The round's research goal. Slack appends details, so only what is new is ever sent. */
  details: string;
  /** The round's first sites, sent once when the round is over. */
  sources: { type: 'url'; url: string; text: string }[];
}

/** What a streamed progress message should show, apart from the clock: tasks and the report text so far. */
export interface StreamContent {
  tasks: StreamTask[];
  /** Complete blocks of the report written so far, citations linked, neutralised for Slack. */
  text: string;
  /** The plan title without the figures that move on their own: when it changes, that is a milestone. */
  titleKey: string;
}

const PHASES = ['planning', 'searching', 'writing'] as const;

/** The tasks and report text of a progress view. Pure; computed once per view (the report text costs a parse). */
export function streamContent(view: ProgressView): StreamContent {
  const t = strings(view.lang);
  const p = view.progress;
  const text = p && p.draft && view.state === 'researching' ? neutraliseMarkdown(draftMarkdown(p.draft, p.references)) : '';
  return { tasks: tasks(view, p, t), text, titleKey: `${view.state}:${p?.phase ?? ''}:${view.position ?? ''}:${view.failure?.code ?? ''}` };
}

function tasks(view: ProgressView, p: Progress | undefined, t: Strings): StreamTask[] {
  const ended = view.state === 'failed' || view.state === 'cancelled';
  const open: TaskStatus = ended ? 'error' : view.state === 'done' ? 'complete' : 'in_progress';
  if (!p || view.state === 'queued') return [phaseTask('planning', view.state === 'queued' ? 'pending' : open, t)];
  const current = Math.max(0, PHASES.indexOf(p.phase as (typeof PHASES)[number]));
  const out: StreamTask[] = [];
  for (let i = 0; i <= current; i++) {
    const phase = PHASES[i]!;
    out.push(phaseTask(phase, i < current ? 'complete' : open, t));
    // Rounds the backend reported before any "searching" phase still get their task.
    if (phase === 'searching' || (current === 0 && phase === 'planning')) {
      // The last round is under way until it ends or the research moves on; earlier rounds are over.
      out.push(...p.rounds.map((r, j) => roundTask(r, !r.finished && j === p.rounds.length - 1 && i === current ? open : 'complete', t)));
    }
  }
  return out;
}

function phaseTask(phase: string, status: TaskStatus, t: Strings): StreamTask {
  const label = t.phase[phase] ?? phase;
  return { id: `phase:${phase}`, label, title: label, status, details: '', sources: [] };
}

function roundTask(r: Progress['rounds'][number], status: TaskStatus, t: Strings): StreamTask {
  const label = t.round(r.round);
  const query = r.query.trim();
  return {
    id: `round:${r.round}`,
    label,
    title: clip(escapePlain(query ? `${label}: ${query}` : label), FIELD_MAX),
    status,
    // Slack may render details that open with a heading as nothing.
    details: clip(escapePlain(r.goal.replace(/^[\s#]+/, '')), FIELD_MAX),
    sources: r.links
      .filter((l) => isHttpUrl(l.url))
      .slice(0, SOURCES_MAX)
      .map((l) => ({ type: 'url' as const, url: l.url, text: clip(escapePlain(l.title.trim() || hostOf(l.url)), 100) })),
  };
}

function hostOf(url: string): string {
  return URL.canParse(url) ? new URL(url).host : url;
}

/** The plan's title: the state and, while it runs, the phase, elapsed time, sources and tokens. `now`: the platform's clock. */
export function planTitle(view: ProgressView, now: number): string {
  const t = strings(view.lang);
  const p = view.progress;
  switch (view.state) {
    case 'queued':
      return clip(view.position ? t.queued(view.position) : t.starting, FIELD_MAX);
    case 'done': {
      if (!p) return t.done;
      return clip(`${t.done} ${view.words !== undefined ? t.doneSummary(t.elapsed(elapsedSeconds(p)), p.sources, view.words) : t.elapsed(elapsedSeconds(p))}`, FIELD_MAX);
    }
    case 'cancelled':
      return t.cancelled;
    case 'failed':
      // A refused file's name is in the failure text: everything here goes through the escaper.
      return clip(escapePlain(`${t.failed} ${failureText(t, view.failure)}`), FIELD_MAX);
    default: {
      if (!p) return t.starting;
      const parts = [`${t.phase[p.phase] ?? escapePlain(p.phase)}…`, t.elapsed(elapsedSeconds({ ...p, now: Math.max(p.now, now) })), t.sources(p.sources)];
      if (p.usage) parts.push(t.tokens(p.usage.inputTokens + p.usage.outputTokens));
      return clip(parts.join(' · '), FIELD_MAX);
    }
  }
}

/** What a task that goes on in the next streamed message says in this one: its label, without the model's words. */
export function continuedTitle(task: Pick<StreamTask, 'label'>, lang: ProgressView['lang']): string {
  return clip(`${task.label} · ${strings(lang).continuedBelow}`, FIELD_MAX);
}

/**
 * The blocks at the bottom of the last streamed message: the failure with Retry where it helps, feedback on a report and
 * "Research further" when the core offers it.
 */
export function finalBlocks(view: ProgressView, thread: string): KnownBlock[] {
  const t = strings(view.lang);
  if (view.state === 'failed') {
    const blocks: KnownBlock[] = [{ type: 'section', text: { type: 'mrkdwn', text: clip(`:warning: *${escapeMrkdwn(t.failed)}* ${escapeMrkdwn(failureText(t, view.failure))}`, 2900) } }];
    if (view.failure?.retryable) {
      blocks.push({ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: t.retry }, action_id: ACTIONS.retry, value: thread, style: 'primary' }] });
    }
    return blocks;
  }
  if (view.state === 'done') {
    const blocks: KnownBlock[] = [
      {
        type: 'context_actions',
        elements: [
          {
            type: 'feedback_buttons',
            action_id: ACTIONS.feedback,
            positive_button: { text: { type: 'plain_text', text: '👍' }, accessibility_label: t.feedbackGood, value: feedbackValue('good', thread) },
            negative_button: { text: { type: 'plain_text', text: '👎' }, accessibility_label: t.feedbackBad, value: feedbackValue('bad', thread) },
          },
        ],
      },
    ];
    // "Research further" right under the feedback buttons (context_actions holds only feedback and icon buttons).
    if (view.further) blocks.push(furtherButton(view.lang, thread));
    return blocks;
  }
  if (view.state === 'cancelled') return [{ type: 'context', elements: [{ type: 'mrkdwn', text: `:no_entry_sign: ${escapeClipped(t.cancelled, 200)}` }] }];
  return [];
}

/** A feedback button's value names the thread, so a click needs no lookup: `good|slack:T…:C…:ts`. */
export function feedbackValue(value: 'good' | 'bad', thread: string): string {
  return `${value}|${thread}`;
}
