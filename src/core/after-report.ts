import type { Effect, Transition } from './conversation.js';
import { capText, MAX_TEXT_CHARS } from './text-cap.js';
import { strings } from './i18n.js';
import type { StoredReport, ThreadState, Turn } from './ports/thread.js';
import { reportSummary } from './followup-context.js';

/** Follow-up questions kept per thread; older ones drop off (the model sees fewer still). */
const KEPT_TURNS = 20;

type Next = (patch: Partial<ThreadState>) => ThreadState;

/** What a finished report leaves behind in the thread: kept for follow-up questions and "Research further". */
export function keepReport(s: ThreadState): StoredReport | undefined {
  if (!s.result) return s.report;
  return { round: s.round, topic: s.topic, answer: s.result.answer, references: s.result.references, pageUrl: s.pageUrl, messageId: s.reportMessageId };
}

/** A person's message in a thread whose report is delivered: a question about the report, answered by the chat model. */
export function ask(s: ThreadState, next: Next, user: string, raw: string, now: number): Transition {
  const { text, cut } = capText(raw.trim());
  if (!text) return { state: s, effects: [] };
  const id = (s.turns?.at(-1)?.id ?? 0) + 1;
  const turns: Turn[] = [...(s.turns ?? []), { id, user, question: text, askedAt: now }].slice(-KEPT_TURNS);
  const effects: Effect[] = cut ? [{ type: 'notice', text: strings(s.lang).textCut(MAX_TEXT_CHARS), lang: s.lang }] : [];
  return { state: next({ turns }), effects: [...effects, { type: 'followup', id }], followup: user };
}

/** The chat model's answer, its message, or its failure, recorded on the turn. */
export function turnUpdate(s: ThreadState, next: Next, id: number, patch: Partial<Turn>): Transition {
  const turns = s.turns?.map((t) => (t.id === id ? { ...t, ...patch } : t));
  return turns && s.turns?.some((t) => t.id === id) ? { state: next({ turns }), effects: [] } : { state: s, effects: [] };
}

/**
 * "Research further": a new round in the same thread that asks what to focus on; the reply starts step 2 directly
 * (no clarifying question), with the earlier report's summary and the focus as the request. The person who pressed
 * it owns the new round (the caps count it for them once they answer).
 */
export function further(s: ThreadState, next: Next, user: string): Transition {
  const r = s.report;
  if (!r) return { state: s, effects: [] };
  const state = next({
    state: 'awaiting_answer',
    step: 1,
    round: s.round + 1,
    requester: user,
    question: strings(s.lang).followup.focusQuestion,
    answer: undefined,
    further: { round: r.round, topic: r.topic, summary: reportSummary(r.answer), pageUrl: r.pageUrl, messageId: r.messageId },
    attempts: 0,
    running: false,
    failure: undefined,
    notices: [],
    files: undefined,
    images: undefined,
    usage: undefined,
    words: undefined,
    pageUrl: undefined,
    reportMessageId: undefined,
    clarifyMessageId: undefined,
    progressMessageId: undefined,
  });
  return { state, effects: [{ type: 'post-clarify' }] };
}

/**
 * Questions a restart left unanswered (asked within the last hour) are answered again. In a cluster, only those
 * asked over `SHARED_TURN_MS` ago: a younger one may be being answered by another process right now.
 */
export function recoverTurns(s: ThreadState, now: number, shared = false): Effect[] {
  const due = (t: Turn) => now - t.askedAt < RECOVER_TURNS_MS && (!shared || now - t.askedAt > SHARED_TURN_MS);
  return (s.turns ?? []).filter((t) => t.answer === undefined && !t.failed && due(t)).map((t) => ({ type: 'followup', id: t.id, resume: true }));
}

/** Longer than any answer takes (the chat model's idle timeout is 60 s). */
export const SHARED_TURN_MS = 180_000;

export const RECOVER_TURNS_MS = 3_600_000;
