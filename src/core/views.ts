import type { View } from './ports/chat.js';
import type { ThreadState } from './ports/thread.js';
import { strings } from './i18n.js';
import type { Progress } from './progress.js';

export function clarifyView(s: ThreadState): View {
  // The backend needed no question and went straight into research: the message says so.
  if (s.step === 2 && !s.question) return { kind: 'notice', lang: s.lang, text: strings(s.lang).noQuestion };
  return {
    kind: 'clarify',
    lang: s.lang,
    topic: s.topic,
    state: s.state,
    question: s.question,
    open: s.state === 'awaiting_answer',
    answer: s.step === 2 ? s.answer : undefined,
    failure: s.step === 1 ? s.failure : undefined,
  };
}

export function progressView(s: ThreadState, progress: Progress | undefined, extra: { position?: number; words?: number; cost?: string; further?: boolean } = {}): View {
  return {
    kind: 'progress',
    lang: s.lang,
    topic: s.topic,
    state: s.state,
    progress,
    position: s.state === 'queued' ? extra.position : undefined,
    failure: s.state === 'failed' ? s.failure : undefined,
    words: extra.words,
    cost: extra.cost,
    further: extra.further || undefined,
    requester: s.requester || undefined,
  };
}
