import type { View } from './ports/chat.js';
import { failureText, type Strings } from './i18n.js';
import { sliceChars } from '../common/markdown.js';
import { elapsedSeconds, type Progress } from './progress.js';

type ProgressView = Extract<View, { kind: 'progress' }>;

/** The marks a platform draws with: Slack emoji codes or Unicode emoji. */
export interface Marks {
  done: string;
  current: string;
  stopped: string;
  todo: string;
  queued: string;
  cancelled: string;
  failed: string;
  searching: string;
  /** Bold in the platform's markup. */
  bold: (s: string) => string;
  /** Makes text from the model or a person safe in the platform's markup. */
  escape: (s: string) => string;
}

const PHASES = ['planning', 'searching', 'writing'] as const;
const ROUNDS_SHOWN = 8;

/** The lines of a progress message, shared by every platform's renderer. */
export function progressText(view: ProgressView, t: Strings, m: Marks) {
  const p = view.progress;
  return {
    status: statusLine(view, t, m),
    checklist: p && p.phase !== 'starting' ? phaseChecklist(p, view.state, t, m) : undefined,
    rounds: p && p.rounds.length > 0 ? roundLines(p, view.state === 'researching', t, m) : undefined,
    stats: p ? stats(p, view, t) : undefined,
  };
}

function statusLine(view: ProgressView, t: Strings, m: Marks): string {
  switch (view.state) {
    case 'queued':
      return `${m.queued} ${view.position ? t.queued(view.position) : t.starting}`;
    case 'done':
      return `${m.done} ${t.done}`;
    case 'cancelled':
      return `${m.cancelled} ${t.cancelled}`;
    case 'failed':
      return `${m.failed} ${m.bold(t.failed)} ${m.escape(failureText(t, view.failure))}`;
    default: {
      const phase = view.progress?.phase ?? 'starting';
      return `${m.searching} ${t.phase[phase] ?? phase}…`;
    }
  }
}

/** Every phase with its state, so that a coalesced edit still shows each phase the research went through. */
function phaseChecklist(p: Progress, state: ProgressView['state'], t: Strings, m: Marks): string {
  const current = PHASES.indexOf(p.phase as (typeof PHASES)[number]);
  return PHASES.map((phase, i) => {
    const icon = i < current || (i === current && state === 'done') ? m.done : i === current ? (state === 'researching' ? m.current : m.stopped) : m.todo;
    return `${icon} ${t.phase[phase]}`;
  }).join('   ');
}

function roundLines(p: Progress, live: boolean, t: Strings, m: Marks): string {
  const shown = p.rounds.slice(-ROUNDS_SHOWN);
  const lines = shown.map((r, i) => {
    const current = live && i === shown.length - 1 && !r.finished && p.phase === 'searching';
    const query = r.query ? `“${m.escape(clip(r.query, 200))}”` : '…';
    return `${current ? m.current : m.done} ${t.round(r.round)}: ${query} · ${t.sources(r.sites)}`;
  });
  if (p.rounds.length > shown.length) lines.unshift(`… +${p.rounds.length - shown.length}`);
  return lines.join('\n');
}

function stats(p: Progress, view: ProgressView, t: Strings): string {
  const elapsed = t.elapsed(elapsedSeconds(p));
  const tokens = p.usage ? [t.tokens(p.usage.inputTokens + p.usage.outputTokens)] : [];
  const cost = view.cost ? [t.cost(view.cost)] : [];
  if (view.state === 'done' && view.words !== undefined) return [t.doneSummary(elapsed, p.sources, view.words), ...tokens, ...cost].join(' · ');
  return [t.sources(p.sources), elapsed, ...tokens, ...cost].join(' · ');
}

export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${sliceChars(text, max - 1)}…`;
}
