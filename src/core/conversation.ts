import type { Usage } from './ports/research.js';
import { detectLang, isCancelWord, strings } from './i18n.js';
import type { ActionName, FileRef } from './ports/chat.js';
import { isActive, RUNNING_STATES, type FailureCode, type Lang, type Result, type ThreadState } from './ports/thread.js';

export type Input =
  | { type: 'mention'; user: string; text: string; platform: string; channel: string; files?: FileRef[]; now: number }
  | { type: 'reply'; user: string; text: string; now: number }
  | { type: 'action'; action: ActionName; user: string; text?: string; now: number }
  | { type: 'started'; now: number }
  | { type: 'clarified'; question: string; now: number }
  /** Asked to clarify, the backend went straight into research (the agent needed no question). */
  | { type: 'direct'; now: number }
  | { type: 'answered'; result: Result; usage?: Usage; now: number }
  | { type: 'reported'; now: number }
  | { type: 'failed'; code: FailureCode; detail?: string; retryable: boolean; now: number }
  | { type: 'recover'; now: number };

export type Effect =
  /** Post the clarify view (thinking, or the question) as a new message. */
  | { type: 'post-clarify' }
  | { type: 'show-clarify' }
  /** Post the progress view as a new message, or edit the posted one. */
  | { type: 'post-progress' }
  | { type: 'show-progress'; final: boolean }
  | { type: 'run' }
  | { type: 'abort' }
  | { type: 'post-report' }
  | { type: 'notice'; text: string; lang: Lang }
  | { type: 'status'; working: boolean };

export interface Rules {
  clarify: boolean;
  answerBy: 'requester' | 'anyone';
  maxAttempts: number;
  language: 'auto' | Lang;
  /** Attached files the research backend reads (count and size); undefined when it reads none. */
  files?: { maxFiles: number; maxBytes: number };
}

/** Longest topic or answer passed to the model; a longer one is cut and the person told. */
export const MAX_TEXT_CHARS = 4000;

export interface Transition {
  state: ThreadState | undefined;
  effects: Effect[];
}

const RUNNING: ReadonlySet<string> = new Set(RUNNING_STATES);

/** The state machine of DESIGN.md: (state, input) → (state, effects). Pure. */
export function transition(s: ThreadState | undefined, input: Input, rules: Rules): Transition {
  const none: Transition = { state: s, effects: [] };
  if (input.type === 'mention') {
    if (!s || !isActive(s.state)) return newRound(s, input, rules);
    // A mention inside a running thread is a reply that also @mentions the bot.
    return transition(s, { type: 'reply', user: input.user, text: input.text, now: input.now }, rules);
  }
  if (!s) return none; // a thread the bot never started
  const t = strings(s.lang);
  const next = (patch: Partial<ThreadState>): ThreadState => ({ ...s, ...patch, updatedAt: input.now });
  const noticeOnce = (id: string, text: string): Transition =>
    s.notices.includes(id) ? none : { state: next({ notices: [...s.notices, id] }), effects: [{ type: 'notice', text, lang: s.lang }] };
  const mayControl = (user: string) => user === s.requester || rules.answerBy === 'anyone';

  switch (input.type) {
    case 'reply': {
      if (!isActive(s.state)) return none;
      if (isCancelWord(input.text)) return mayControl(input.user) ? cancel(s, next) : noticeOnce('not-requester', t.notRequester);
      if (s.state === 'awaiting_answer') {
        if (!mayControl(input.user)) return noticeOnce('not-requester', t.notRequester);
        return answer(next, input.text, s.lang);
      }
      if (s.state === 'clarifying') return noticeOnce('preparing', t.preparing);
      return noticeOnce('busy', t.busy);
    }
    case 'action': {
      if (!mayControl(input.user)) return noticeOnce('not-requester', t.notRequester);
      if (input.action === 'cancel') return isActive(s.state) ? cancel(s, next) : none;
      if (input.action === 'retry') return s.state === 'failed' ? retry(s, next, rules) : none;
      if (s.state !== 'awaiting_answer') return none;
      if (input.action === 'start-now') return answer(next, t.startNowAnswer, s.lang);
      const text = input.text?.trim();
      return text ? answer(next, text, s.lang) : none;
    }
    case 'started': {
      if (s.state !== 'queued' && s.state !== 'clarifying') return none;
      const state = next({ state: s.state === 'queued' ? 'researching' : 'clarifying', attempts: s.attempts + 1, running: true });
      return { state, effects: [viewEffect(s, false), { type: 'status', working: true }] };
    }
    case 'clarified':
      if (s.state !== 'clarifying') return none;
      return {
        state: next({ state: 'awaiting_answer', question: input.question, running: false }),
        effects: [{ type: 'show-clarify' }, { type: 'status', working: false }],
      };
    case 'direct':
      if (s.state !== 'clarifying') return none;
      return {
        state: next({ state: 'researching', step: 2, question: undefined, answer: undefined }),
        effects: [{ type: 'show-clarify' }, { type: 'post-progress' }],
      };
    case 'answered':
      if (s.state !== 'researching') return none;
      return {
        state: next({ result: input.result, usage: input.usage ?? s.usage }),
        effects: [{ type: 'post-report' }],
      };
    case 'reported':
      if (s.state !== 'researching' || !s.result) return none;
      return {
        state: next({ state: 'done', result: undefined }),
        effects: [{ type: 'show-progress', final: true }, { type: 'status', working: false }],
      };
    case 'failed': {
      if (!RUNNING.has(s.state)) return none;
      const state = next({ state: 'failed', failure: { code: input.code, detail: input.detail, retryable: input.retryable } });
      return {
        state,
        effects: [viewEffect(s, true), { type: 'status', working: false }],
      };
    }
    case 'recover':
      return recover(s, next, rules);
  }
}

/** The message that shows a run: the clarify message in step 1, the progress message in step 2. */
function viewEffect(s: ThreadState, final: boolean): Effect {
  return s.step === 1 ? { type: 'show-clarify' } : { type: 'show-progress', final };
}

function newRound(prev: ThreadState | undefined, input: Extract<Input, { type: 'mention' }>, rules: Rules): Transition {
  const { text: topic, cut } = capText(input.text.trim());
  const lang = detectLang(topic, rules.language);
  const t = strings(lang);
  const refuse = (text: string): Transition => ({ state: prev, effects: [{ type: 'notice', text, lang }] });
  if (!topic) return refuse(t.help);
  const notices: Effect[] = cut ? [{ type: 'notice', text: t.textCut(MAX_TEXT_CHARS), lang }] : [];
  let files = input.files?.length ? input.files : undefined;
  if (files && !rules.files) {
    // The backend reads only text: say so instead of downloading what nobody will read.
    notices.push({ type: 'notice', text: t.filesIgnored(files.map((f) => f.name)), lang });
    files = undefined;
  } else if (files && rules.files) {
    if (files.length > rules.files.maxFiles) return refuse(t.tooManyFiles(files.length, rules.files.maxFiles));
    const big = files.find((f) => f.size > rules.files!.maxBytes);
    if (big) return refuse(t.fileTooLarge(big.name, big.size, rules.files.maxBytes));
  }
  const state: ThreadState = {
    key: prev?.key ?? '',
    platform: input.platform,
    channel: input.channel,
    requester: input.user,
    topic,
    lang,
    state: rules.clarify ? 'clarifying' : 'queued',
    step: rules.clarify ? 1 : 2,
    attempts: 0,
    notices: [],
    round: (prev?.round ?? 0) + 1,
    files,
    version: prev?.version ?? 0,
    createdAt: prev?.createdAt ?? input.now,
    updatedAt: input.now,
  };
  return { state, effects: [...notices, { type: rules.clarify ? 'post-clarify' : 'post-progress' }, { type: 'run' }] };
}

function answer(next: (p: Partial<ThreadState>) => ThreadState, raw: string, lang: Lang): Transition {
  const { text, cut } = capText(raw);
  return {
    state: next({ state: 'queued', answer: text, step: 2, attempts: 0, running: false, notices: [] }),
    effects: [
      ...(cut ? [{ type: 'notice', text: strings(lang).textCut(MAX_TEXT_CHARS), lang } as Effect] : []),
      { type: 'show-clarify' },
      { type: 'post-progress' },
      { type: 'run' },
    ],
  };
}

/** At most MAX_TEXT_CHARS characters, never cutting a character in two. */
export function capText(text: string): { text: string; cut: boolean } {
  const chars = Array.from(text);
  return chars.length <= MAX_TEXT_CHARS ? { text, cut: false } : { text: chars.slice(0, MAX_TEXT_CHARS).join('').trimEnd(), cut: true };
}

function cancel(s: ThreadState, next: (p: Partial<ThreadState>) => ThreadState): Transition {
  return { state: next({ state: 'cancelled' }), effects: [{ type: 'abort' }, { type: 'status', working: false }, viewEffect(s, true)] };
}

function retry(s: ThreadState, next: (p: Partial<ThreadState>) => ThreadState, rules: Rules): Transition {
  const backToStep1 = s.step === 1 && rules.clarify;
  return {
    state: next({ state: backToStep1 ? 'clarifying' : 'queued', failure: undefined, attempts: 0, running: false, notices: [] }),
    effects: backToStep1 ? [{ type: 'show-clarify' }, { type: 'run' }] : [{ type: 'show-progress', final: false }, { type: 'run' }],
  };
}

function recover(s: ThreadState, next: (p: Partial<ThreadState>) => ThreadState, rules: Rules): Transition {
  if (!RUNNING.has(s.state)) return { state: s, effects: [] };
  // The answer is already paid for and stored: only the report still has to be posted.
  if (s.state === 'researching' && s.result) return { state: s, effects: [{ type: 'post-report' }] };
  const t = strings(s.lang);
  if (s.attempts >= rules.maxAttempts) {
    const state = next({ state: 'failed', failure: { code: 'interrupted', retryable: true } });
    return { state, effects: [viewEffect(s, true)] };
  }
  // A run that was only waiting for a slot never started (nothing was billed): it simply goes back in the queue.
  const wasRunning = s.running ?? (s.state === 'researching' || (s.state === 'clarifying' && s.attempts > 0));
  const state = next({ state: s.step === 1 ? 'clarifying' : 'queued', running: false });
  return { state, effects: [...(wasRunning ? [{ type: 'notice', text: t.restarted, lang: s.lang } as Effect] : []), { type: 'run' }] };
}
