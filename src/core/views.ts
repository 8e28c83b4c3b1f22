import type { View } from '../platforms/platform.js';
import type { ThreadState } from './conversation.js';
import type { Progress } from './progress.js';

export function clarifyView(s: ThreadState): View {
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

export function progressView(s: ThreadState, progress: Progress | undefined, position?: number, words?: number): View {
  return {
    kind: 'progress',
    lang: s.lang,
    topic: s.topic,
    state: s.state,
    progress,
    position: s.state === 'queued' ? position : undefined,
    failure: s.state === 'failed' ? s.failure : undefined,
    words,
  };
}
