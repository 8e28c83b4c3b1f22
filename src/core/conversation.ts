import type { ImageLimits, Usage } from './ports/research.js';
import { detectLang, isCancelWord, strings } from './i18n.js';
import type { ActionName, FileRef } from './ports/chat.js';
import { isActive, RUNNING_STATES, type FailureCode, type Lang, type Result, type ThreadState } from './ports/thread.js';
import { countWords } from './report.js';
import { ask, further, keepReport, recoverTurns, turnUpdate } from './after-report.js';
import { capText, MAX_TEXT_CHARS } from './text-cap.js';
import { pickImages } from './images.js';

/** The bot's messages that are posted once and then edited. */
export type PostedView = 'clarify' | 'progress';

export type Input =
  | { type: 'mention'; user: string; text: string; platform: string; channel: string; files?: FileRef[]; now: number }
  | { type: 'reply'; user: string; text: string; now: number }
  | { type: 'action'; action: ActionName; user: string; text?: string; now: number }
  | { type: 'started'; now: number }
  | { type: 'clarified'; question: string; now: number }
  /** Asked to clarify, the backend went straight into research (the agent needed no question). */
  | { type: 'direct'; now: number }
  | { type: 'answered'; result: Result; usage?: Usage; now: number }
  /** A post effect's outcome: the message is there (its id is recorded before anything else happens)… */
  | { type: 'posted'; view: PostedView; messageId: string; now: number }
  /** …or it could not be posted, even after retries. */
  | { type: 'post-failed'; view: PostedView; now: number }
  /** The report page was published (`url`), or there is none (no PUBLIC_URL, or publishing failed). */
  | { type: 'published'; url?: string; now: number }
  /** Parts of the report delivered so far, out of `total`. */
  | { type: 'report-part'; delivered: number; total: number; messageId?: string; now: number }
  /** A follow-up answer's message is there, its answer is written, or answering failed. */
  | { type: 'followup-posted'; id: number; messageId: string; now: number }
  | { type: 'followup-answered'; id: number; answer: string; usage?: Usage; now: number }
  | { type: 'followup-failed'; id: number; now: number }
  | { type: 'failed'; code: FailureCode; detail?: string; retryable: boolean; now: number }
  /** Start-up recovery; `shared`: other processes of a cluster may be at work on the same threads. */
  | { type: 'recover'; now: number; shared?: boolean };

export type Effect =
  /**
   * Post the clarify view (thinking, or the question) as a new message; answered with `posted` or `post-failed`.
   * `resume`: a post of this view may have gone out before a restart: adopt it if the platform can find it.
   */
  | { type: 'post-clarify'; resume?: boolean }
  | { type: 'show-clarify' }
  /** Post the progress view as a new message, or edit the posted one. */
  | { type: 'post-progress'; resume?: boolean }
  | { type: 'show-progress'; final: boolean }
  | { type: 'run' }
  | { type: 'abort' }
  /** Publish the report page, where there are pages; answered with `published`. */
  | { type: 'publish-page' }
  /** Deliver the next part of the report; answered with `report-part`. */
  | { type: 'post-report'; resume?: boolean }
  | { type: 'notice'; text: string; lang: Lang }
  | { type: 'status'; working: boolean }
  /** Answer follow-up question `id` with the chat model (`resume`: a restart left it unanswered). */
  | { type: 'followup'; id: number; resume?: boolean };

export interface Rules {
  clarify: boolean;
  answerBy: 'requester' | 'anyone';
  maxAttempts: number;
  language: 'auto' | Lang;
  /** Attached files the research backend reads (count and size); undefined when it reads none. */
  files?: { maxFiles: number; maxBytes: number };
  /** Attached images the research backend reads; undefined when it reads none. */
  images?: ImageLimits;
}


export interface Transition {
  state: ThreadState | undefined;
  effects: Effect[];
  /** The input starts a billed run for a person (a new request, an answer, a retry): the caps apply first. */
  admit?: boolean;
  /** The input asks the chat model a follow-up question for this person: their hourly limit applies first. */
  followup?: string;
}

const RUNNING: ReadonlySet<string> = new Set(RUNNING_STATES);

/** The state machine of DESIGN.md: (state, input) → (state, effects). Pure. */
export function transition(s: ThreadState | undefined, input: Input, rules: Rules): Transition {
  const none: Transition = { state: s, effects: [] };
  if (input.type === 'mention') {
    // In a thread whose report is delivered, a mention is a question about it.
    if (s && !isActive(s.state) && s.report) return ask(s, (p) => ({ ...s, ...p, updatedAt: input.now }), input.user, input.text, input.now);
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
      if (!isActive(s.state)) return s.report ? ask(s, next, input.user, input.text, input.now) : none;
      if (isCancelWord(input.text)) return mayControl(input.user) ? cancel(s, next) : noticeOnce('not-requester', t.notRequester);
      if (s.state === 'awaiting_answer') {
        if (!mayControl(input.user)) return noticeOnce('not-requester', t.notRequester);
        return answer(next, input.text, s.lang);
      }
      if (s.state === 'clarifying') return noticeOnce('preparing', t.preparing);
      return noticeOnce('busy', t.busy);
    }
    case 'action': {
      // Anyone allowed in the channel may take a finished report further (the new round is theirs).
      if (input.action === 'further') return isActive(s.state) ? none : further(s, next, input.user);
      if (!mayControl(input.user)) return noticeOnce('not-requester', t.notRequester);
      if (input.action === 'cancel') return isActive(s.state) ? cancel(s, next) : none;
      if (input.action === 'retry') return s.state === 'failed' ? retry(s, next, rules) : none;
      if (s.state !== 'awaiting_answer') return none;
      if (input.action === 'start-now') return answer(next, s.further ? t.followup.startNowFocus : t.startNowAnswer, s.lang);
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
    case 'posted': {
      const field = input.view === 'clarify' ? 'clarifyMessageId' : 'progressMessageId';
      const state = next({ [field]: input.messageId });
      // The run starts only once its message is there: nothing is billed that people cannot see.
      const waiting = input.view === 'clarify' ? s.state === 'clarifying' && s.step === 1 : s.state === 'queued';
      return { state, effects: waiting && !s.running ? [{ type: 'run' }] : [] };
    }
    case 'post-failed':
      if (s.state !== (input.view === 'clarify' ? 'clarifying' : 'queued') || s.running) return none;
      return { state: next({ state: 'failed', failure: { code: 'not_posted', retryable: true } }), effects: [{ type: 'status', working: false }] };
    case 'answered':
      if (s.state !== 'researching') return none;
      return {
        state: next({ result: input.result, usage: input.usage ?? s.usage, reportDelivered: 0, words: countWords(input.result.answer), pageUrl: undefined }),
        effects: [{ type: 'publish-page' }],
      };
    case 'published':
      if (s.state !== 'researching' || !s.result) return none;
      return { state: next({ pageUrl: input.url }), effects: [{ type: 'post-report' }] };
    case 'report-part': {
      if (s.state !== 'researching' || !s.result) return none;
      const first = input.messageId && input.delivered === 1 ? { reportMessageId: input.messageId } : {};
      if (input.delivered < input.total) return { state: next({ reportDelivered: input.delivered, ...first }), effects: [{ type: 'post-report' }] };
      const kept = { ...s, ...first };
      return {
        state: next({ state: 'done', ...first, report: keepReport(kept), turns: [], result: undefined, reportDelivered: undefined, running: false }),
        effects: [{ type: 'show-progress', final: true }, { type: 'status', working: false }],
      };
    }
    case 'followup-posted':
      return turnUpdate(s, next, input.id, { messageId: input.messageId });
    case 'followup-answered':
      return turnUpdate(s, next, input.id, { answer: input.answer, usage: input.usage });
    case 'followup-failed':
      return turnUpdate(s, next, input.id, { failed: true });
    case 'failed': {
      if (!RUNNING.has(s.state)) return none;
      const state = next({ state: 'failed', failure: { code: input.code, detail: input.detail, retryable: input.retryable } });
      return {
        state,
        effects: [viewEffect(s, true), { type: 'status', working: false }],
      };
    }
    case 'recover':
      return recover(s, next, rules, input.now, input.shared);
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
  const picked = pickImages(input.files ?? [], rules.images, lang);
  if (picked.skipped.length) notices.push({ type: 'notice', text: t.imagesSkipped(picked.skipped), lang });
  let files = picked.rest.length ? picked.rest : undefined;
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
    images: picked.images.length ? picked.images : undefined,
    version: prev?.version ?? 0,
    createdAt: prev?.createdAt ?? input.now,
    updatedAt: input.now,
  };
  return { state, effects: [...notices, { type: rules.clarify ? 'post-clarify' : 'post-progress' }], admit: true };
}

function answer(next: (p: Partial<ThreadState>) => ThreadState, raw: string, lang: Lang): Transition {
  const { text, cut } = capText(raw);
  return {
    state: next({ state: 'queued', answer: text, step: 2, attempts: 0, running: false, notices: [] }),
    effects: [...(cut ? [{ type: 'notice', text: strings(lang).textCut(MAX_TEXT_CHARS), lang } as Effect] : []), { type: 'show-clarify' }, { type: 'post-progress' }],
    admit: true,
  };
}


function cancel(s: ThreadState, next: (p: Partial<ThreadState>) => ThreadState): Transition {
  return { state: next({ state: 'cancelled' }), effects: [{ type: 'abort' }, { type: 'status', working: false }, viewEffect(s, true)] };
}

function retry(s: ThreadState, next: (p: Partial<ThreadState>) => ThreadState, rules: Rules): Transition {
  const backToStep1 = s.step === 1 && rules.clarify;
  const state = next({ state: backToStep1 ? 'clarifying' : 'queued', failure: undefined, attempts: 0, running: false, notices: [] });
  return { state, effects: showOrPost(state), admit: true };
}

/** The run's message shown again (the run follows), or posted first when it never was (the run follows the post). */
function showOrPost(s: ThreadState, resume = false): Effect[] {
  if (s.step === 1) return s.clarifyMessageId ? [{ type: 'show-clarify' }, { type: 'run' }] : [{ type: 'post-clarify', resume }];
  return s.progressMessageId ? [{ type: 'show-progress', final: false }, { type: 'run' }] : [{ type: 'post-progress', resume }];
}

/** Open questions older than this are not shown again at a restart. */
const RESHOW_QUESTIONS_MS = 86_400_000;

function recover(s: ThreadState, next: (p: Partial<ThreadState>) => ThreadState, rules: Rules, now: number, shared = false): Transition {
  const none = { state: s, effects: [] };
  if (s.state === 'awaiting_answer') {
    // The question's edit may have been lost with the process: show it again (or post it, if it never was).
    if (!s.clarifyMessageId) return { state: s, effects: [{ type: 'post-clarify', resume: true }] };
    return now - s.updatedAt < RESHOW_QUESTIONS_MS ? { state: s, effects: [{ type: 'show-clarify' }] } : none;
  }
  if (!RUNNING.has(s.state)) return { state: s, effects: recoverTurns(s, now, shared) };
  // The answer is already paid for and stored: only the rest of the report still has to be delivered.
  if (s.state === 'researching' && s.result) return { state: s, effects: [{ type: 'post-report', resume: true }] };
  const t = strings(s.lang);
  if (s.attempts >= rules.maxAttempts) {
    const state = next({ state: 'failed', failure: { code: 'interrupted', retryable: true } });
    return { state, effects: [viewEffect(s, true)] };
  }
  // A run that was only waiting for a slot never started (nothing was billed): it simply goes back in the queue.
  const wasRunning = s.running ?? (s.state === 'researching' || (s.state === 'clarifying' && s.attempts > 0));
  const state = next({ state: s.step === 1 ? 'clarifying' : 'queued', running: false });
  const notice: Effect[] = wasRunning ? [{ type: 'notice', text: t.restarted, lang: s.lang }] : [];
  return { state, effects: [...notice, ...showOrPost(state, true).filter((e) => e.type !== 'show-clarify' && e.type !== 'show-progress')] };
}
