import PQueue from 'p-queue';
import type { Budget } from './budget.js';
import { retrying } from './delivery.js';
import type { Input } from './conversation.js';
import { followupMessages } from './followup-context.js';
import { strings } from './i18n.js';
import type { Platform, ThreadKey, View } from './ports/chat.js';
import type { FollowupModel } from './ports/followup.js';
import type { Logger } from './ports/logger.js';
import { ResearchError, type Usage } from './ports/research.js';
import type { Telemetry } from './ports/telemetry.js';
import type { ThreadState, Turn } from './ports/thread.js';
import { draftMarkdown } from './report.js';
import { ProgressThrottle } from './research-run.js';
import { ThreadLocks } from './thread-locks.js';

/** Follow-up answers streaming at once across all threads (each takes seconds; the chat model's own limits are far higher). */
const CONCURRENT_ANSWERS = 8;

export interface FollowupSettings {
  model: FollowupModel;
  /** Questions per person per hour (FOLLOWUP_LIMIT_PER_HOUR). */
  limitPerHour: number;
  /** Priced with the chat model's price; the spend counts toward the monthly budget like research. */
  budget: Budget;
}

export interface FollowupDeps {
  clock: () => number;
  log: Logger;
  telemetry: Telemetry;
  /** Least time between two edits of an answer while it is written. */
  intervalMs: number;
  retryDelaysMs: number[];
  read(key: ThreadKey): Promise<ThreadState | undefined>;
  /** Applies the answer's outcome to the thread, under its lock. */
  apply(key: ThreadKey, input: Input): Promise<unknown>;
}

/**
 * Answers follow-up questions with the chat model: one at a time per thread, in the order asked (so a question
 * sees the answers before it), a few at a time across threads. Each answer is its own message, edited as the
 * answer streams in and finished with the model, tokens and cost; its outcome is recorded on the turn.
 */
export class Followups {
  private readonly order = new ThreadLocks();
  private readonly slots = new PQueue({ concurrency: CONCURRENT_ANSWERS });
  private readonly running = new Set<AbortController>();

  constructor(
    readonly settings: FollowupSettings,
    private readonly deps: FollowupDeps,
  ) {}

  start(platform: Platform, key: ThreadKey, id: number, resume = false): void {
    void this.order
      .run(key, () => this.slots.add(() => this.answer(platform, key, id, resume)))
      .catch((err: unknown) => this.deps.log.error({ thread: key, err }, 'follow-up answer failed'));
  }

  /** Stops answering: answers under way are left unanswered in the store (answered again at the next start). */
  async stop(): Promise<void> {
    this.slots.clear();
    for (const c of this.running) c.abort();
    await this.order.settled();
  }

  private async answer(platform: Platform, key: ThreadKey, id: number, resume: boolean): Promise<void> {
    const s = await this.deps.read(key);
    const turn = s?.turns?.find((t) => t.id === id);
    if (!s?.report || !turn || turn.answer !== undefined || turn.failed) return;
    const { model, budget } = this.settings;
    const t = strings(s.lang).followup;
    const view = (state: 'thinking' | 'writing' | 'done' | 'failed', text: string, extra: Partial<View> = {}): View =>
      ({ kind: 'followup', lang: s.lang, asker: turn.user, question: turn.question, state, text, ...extra }) as View;
    const messageId = await this.message(platform, s, turn, view('thinking', t.thinking), resume);
    if (!messageId) return void (await this.deps.apply(key, { type: 'followup-failed', id, now: this.deps.clock() }));
    const references = [...s.report.references].sort((a, b) => a.index - b.index);
    const messages = followupMessages({ report: s.report, earlier: s.turns!.filter((x) => x.id < id), question: turn.question, lang: s.lang });
    const controller = new AbortController();
    this.running.add(controller);
    const throttle = new ProgressThrottle(this.deps.intervalMs, this.deps.clock);
    let text = '';
    let usage: Usage | undefined;
    try {
      for await (const e of model.answer(messages, controller.signal)) {
        if (e.type === 'usage') usage = e.usage;
        else {
          text += e.text;
          throttle.changed(false, () => void platform.update(key, messageId, view('writing', draftMarkdown(text, references)), false));
        }
      }
      throttle.stop();
      const answer = text.trim();
      const tokens = usage && usage.inputTokens + usage.outputTokens;
      const footer = t.footer(model.model, tokens, budget.format(usage)) + (resume ? ` · ${t.restartedNote}` : '');
      await platform.update(key, messageId, view('done', draftMarkdown(answer, references, true), { footer }), true);
      this.deps.telemetry.followup('answered');
      await this.deps.apply(key, { type: 'followup-answered', id, answer, usage, now: this.deps.clock() });
    } catch (err) {
      throttle.stop();
      if (controller.signal.aborted) return; // shutdown: answered again at the next start
      const code = err instanceof ResearchError ? err.code : 'internal';
      this.deps.log.warn({ thread: key, code, requestId: err instanceof ResearchError ? err.requestId : undefined }, 'follow-up answer failed');
      this.deps.telemetry.followup(code);
      const failure = t.failed(t.reasons[code] ?? t.reasons.other!);
      await platform.update(key, messageId, view('failed', draftMarkdown(text, references), { failure }), true);
      await this.deps.apply(key, { type: 'followup-failed', id, now: this.deps.clock() });
    } finally {
      this.running.delete(controller);
      await budget.record(usage).catch((err: unknown) => this.deps.log.warn({ thread: key, err }, 'follow-up spend not recorded'));
    }
  }

  /** The answer's message: the one already posted (or, after a restart, found by its tag), else a new post, retried. */
  private async message(platform: Platform, s: ThreadState, turn: Turn, first: View, resume: boolean): Promise<string | undefined> {
    const tag = `followup:${s.report!.round}:${turn.id}`;
    const found = turn.messageId ?? (resume ? await platform.findPosted?.(s.key, tag).catch(() => undefined) : undefined);
    if (found) {
      await platform.update(s.key, found, first, false);
      if (!turn.messageId) await this.deps.apply(s.key, { type: 'followup-posted', id: turn.id, messageId: found, now: this.deps.clock() });
      return found;
    }
    let id: string;
    try {
      id = await retrying(this.deps.log, this.deps.retryDelaysMs, s.key, 'post follow-up answer', () => platform.post(s.key, first, tag));
    } catch {
      this.deps.telemetry.postFailed('followup');
      return undefined;
    }
    await this.deps.apply(s.key, { type: 'followup-posted', id: turn.id, messageId: id, now: this.deps.clock() });
    return id;
  }
}
