import { ResearchError, type ReportFormat, type ResearchBackend, type ResearchRequest } from './ports/research.js';
import type { Inbound, Platform, ThreadKey } from './ports/chat.js';
import { isActive, RUNNING_STATES, type Result, type ThreadState } from './ports/thread.js';
import { transition, type Effect, type Input, type Rules } from './conversation.js';
import { detectLang, strings, type Lang } from './i18n.js';
import { silentLogger, type Logger } from './ports/logger.js';
import { noTelemetry, type Telemetry } from './ports/telemetry.js';
import { advance, isMilestone, startProgress, type Progress } from './progress.js';
import { buildReport } from './report.js';
import { RunQueue } from './run-queue.js';
import { clarifyView, progressView } from './views.js';
import { utcDay, type ThreadStore } from './ports/store.js';

export interface Limits {
  maxConcurrent: number;
  perUser: number;
  dailyPerUser: number;
  allowedChannels: string[];
  allowedUsers: string[];
}

export interface EngineOptions {
  store: ThreadStore;
  backend: ResearchBackend;
  platforms: Platform[];
  rules: Rules;
  limits: Limits;
  format: ReportFormat;
  clock?: () => number;
  logger?: Logger;
  /** How long an event id is remembered for de-duplication. */
  eventTtlMs?: number;
  /** Least time between two progress views of one run, unless the phase or round changed. */
  progressIntervalMs?: number;
  telemetry?: Telemetry;
}

/** How long a person's attachment may take to download. */
const DOWNLOAD_TIMEOUT_MS = 120_000;
/** Refusal notices per person per minute; a flood beyond that is refused without a message each. */
const REFUSAL_NOTICES_PER_MINUTE = 3;

/** A store write failed: the conversation could not be saved. */
class StoreWriteError extends Error {
  constructor(
    readonly op: string,
    cause: unknown,
  ) {
    super(`${op} failed: ${(cause as { code?: string })?.code ?? (cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/** Runs the conversation's effects: the store, the research queue, the platforms; recovery at start-up. */
export class Engine {
  private readonly store: ThreadStore;
  private readonly platforms: Map<string, Platform>;
  private readonly queue: RunQueue;
  private readonly rules: Rules;
  private readonly clock: () => number;
  private readonly log: Logger;
  private readonly telemetry: Telemetry;
  private readonly live = new Map<ThreadKey, Progress>();
  /** When each person was last told of a refusal, to keep a flood from becoming a flood of notices. */
  private readonly refusalNotices = new Map<string, number[]>();
  /** Why the last store write failed, until one succeeds again. */
  private storeProblem: string | undefined;
  /** Words of a posted report, shown in the final progress view. */
  private readonly words = new Map<ThreadKey, number>();
  private readonly locks = new Map<ThreadKey, Promise<unknown>>();
  private stopping = false;

  constructor(private readonly opts: EngineOptions) {
    this.store = opts.store;
    this.platforms = new Map(opts.platforms.map((p) => [p.name, p]));
    this.queue = new RunQueue(opts.limits.maxConcurrent, (key, signal) => this.execute(key, signal), (key, err) =>
      this.log.error({ thread: key, err }, 'research job failed'),
    );
    this.rules = { ...opts.rules, files: opts.backend.files };
    this.clock = opts.clock ?? Date.now;
    this.log = opts.logger ?? silentLogger;
    this.telemetry = opts.telemetry ?? noTelemetry;
  }

  /** Research runs streaming now and waiting for a slot. */
  load(): { running: number; queued: number } {
    return this.queue.size;
  }

  /** Not ready while the last store write failed: the reason names the write and its error. */
  health(): { ready: boolean; reason?: string } {
    return this.storeProblem ? { ready: false, reason: `store: ${this.storeProblem}` } : { ready: true };
  }

  /**
   * Handles one inbound event. Resolves when its immediate effects are done (research runs in the background).
   * When the store cannot be written, the person is told to try again and /healthz reports why.
   */
  async handle(inbound: Inbound): Promise<void> {
    try {
      await this.route(inbound);
    } catch (err) {
      if (!(err instanceof StoreWriteError)) throw err;
      const platform = this.platforms.get(inbound.platform);
      const lang = detectLang(inbound.kind === 'mention' || inbound.kind === 'reply' ? inbound.text : '', this.rules.language);
      if (platform && inbound.thread) await this.safePost(platform, inbound.thread, { kind: 'notice', lang, text: strings(lang).couldNotSave });
    }
  }

  private async route(inbound: Inbound): Promise<void> {
    const now = this.clock();
    let thread = inbound.thread;
    // A card callback names its message; the thread is found by it (the button's value is only a hint).
    if (inbound.kind === 'action' && inbound.messageId) thread = (await this.store.threadOfMessage(inbound.messageId)) ?? thread;
    // Replies and button presses only matter in threads the bot runs: no store write for the rest of a busy channel.
    if (!thread || ((inbound.kind === 'reply' || inbound.kind === 'action') && !(await this.store.get(thread)))) return;
    const id = `${inbound.platform}:${inbound.eventId}`;
    if (!(await this.write('claim event', thread, () => this.store.claimEvent(id, this.opts.eventTtlMs ?? 86_400_000, now)))) {
      this.log.debug({ thread }, 'duplicate delivery ignored');
      return;
    }
    if (inbound.kind === 'unsupported') {
      const platform = this.platforms.get(inbound.platform);
      const text = this.rules.language === 'auto' ? `${strings('en').unsupported}\n${strings('zh').unsupported}` : strings(this.rules.language).unsupported;
      if (platform) await this.safePost(platform, thread, { kind: 'notice', lang: this.rules.language === 'zh' ? 'zh' : 'en', text });
      return;
    }
    await this.locked(thread, async () => {
      const current = await this.store.get(thread);
      const input: Input =
        inbound.kind === 'action'
          ? { type: 'action', action: inbound.action, user: inbound.user, text: inbound.text, now }
          : inbound.kind === 'mention'
            ? { type: 'mention', user: inbound.user, text: inbound.text, platform: inbound.platform, channel: inbound.channel, files: inbound.files, now }
            : { type: 'reply', user: inbound.user, text: inbound.text, now };
      await this.apply(thread, inbound.platform, current, input, true);
    });
  }

  /** A store write; a failure is logged with the write's name, turns /healthz not ready, and is rethrown. */
  private async write<T>(op: string, thread: ThreadKey, f: () => Promise<T>): Promise<T> {
    try {
      const result = await f();
      this.storeProblem = undefined;
      return result;
    } catch (err) {
      const failure = new StoreWriteError(op, err);
      this.storeProblem = failure.message;
      this.log.error({ thread, op, err: failure.message }, 'store write failed');
      throw failure;
    }
  }

  /** Start-up recovery: every thread caught mid-run is re-run (bounded) or failed, and told so. */
  async recover(): Promise<void> {
    for (const s of await this.store.inStates([...RUNNING_STATES])) {
      if (!this.platforms.has(s.platform)) continue;
      await this.locked(s.key, async () => {
        const current = await this.store.get(s.key);
        if (current) await this.apply(s.key, s.platform, current, { type: 'recover', now: this.clock() }, false);
      });
    }
  }

  /**
   * Stops taking work. Runs still waiting stay queued in the store; running research gets `graceMs` to finish
   * and post its report, then its stream is closed and it is left in the store for recovery at the next start.
   */
  async stop(graceMs = 0): Promise<void> {
    this.stopping = true;
    this.queue.pause();
    if (graceMs > 0 && this.queue.size.running > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.queue.onIdle(), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
    }
    this.queue.abortAll();
    await this.queue.onIdle();
    await Promise.allSettled([...this.locks.values()]);
  }

  private async locked<T>(key: ThreadKey, f: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const next = prev.then(f, f);
    const tail = next.catch(() => undefined);
    this.locks.set(key, tail);
    void tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return next;
  }

  /** One transition: refuse it if a limit says so, store it, then make its effects visible. Call under the lock. */
  private async apply(key: ThreadKey, platformName: string, s: ThreadState | undefined, input: Input, admit: boolean): Promise<ThreadState | undefined> {
    const platform = this.platforms.get(platformName);
    if (!platform) return s;
    const { state, effects } = transition(s, input, this.rules);
    if (state && state !== s) {
      const next = { ...state, key, platform: platformName };
      let saved: ThreadState | undefined;
      // A person's input that starts a run (new request, answer, retry) must pass the limits first.
      if (admit && effects.some((e) => e.type === 'run')) {
        const refusal = await this.admit(next, s);
        if (typeof refusal === 'string') {
          await this.refuse(platform, key, state.requester, state.lang, refusal);
          return s;
        }
        saved = refusal;
      } else {
        saved = await this.write('save thread', key, () => this.store.save(next));
      }
      if (!saved) {
        this.log.warn({ thread: key }, 'thread changed elsewhere; event dropped');
        return s;
      }
      await this.effects(platform, key, saved, effects);
      return saved;
    }
    await this.effects(platform, key, s, effects);
    return s;
  }

  /**
   * The caps, checked and counted in one atomic store step: requests under way per person (step 1 included)
   * and requests per person per day. A new request or a retry counts for the day; answering the question of
   * a request already counted does not. Returns the saved thread, undefined on a conflict, or why it is refused.
   */
  private async admit(next: ThreadState, prev: ThreadState | undefined): Promise<ThreadState | string | undefined> {
    const t = strings(next.lang);
    const { allowedChannels, allowedUsers, perUser, dailyPerUser } = this.opts.limits;
    if (allowedChannels.length > 0 && !allowedChannels.includes(next.channel)) return t.notAllowedChannel;
    if (allowedUsers.length > 0 && !allowedUsers.includes(next.requester)) return t.notAllowedUser;
    const rule = { busy: RUNNING_STATES, perUser, dailyLimit: dailyPerUser, countDaily: prev?.state !== 'awaiting_answer', day: utcDay(this.clock()) };
    const admission = await this.write('admit request', next.key, () => this.store.admit(next, rule));
    if (admission.ok) return admission.state;
    if (admission.reason === 'per-user') return t.perUserLimit(perUser);
    if (admission.reason === 'daily') return t.dailyLimit(dailyPerUser);
    return undefined;
  }

  /** Tells a person why their request was refused, a few times a minute at most; the rest are only logged. */
  private async refuse(platform: Platform, key: ThreadKey, user: string, lang: Lang, text: string): Promise<void> {
    const now = this.clock();
    const recent = (this.refusalNotices.get(user) ?? []).filter((t) => now - t < 60_000);
    this.telemetry.requestRefused();
    if (recent.length >= REFUSAL_NOTICES_PER_MINUTE) {
      this.log.info({ thread: key }, 'request refused; notice skipped (too many refusals for this person this minute)');
      return;
    }
    this.refusalNotices.set(user, [...recent, now]);
    await this.safePost(platform, key, { kind: 'notice', lang, text });
  }

  private async effects(platform: Platform, key: ThreadKey, s: ThreadState | undefined, effects: Effect[]): Promise<void> {
    for (const effect of effects) {
      try {
        // A posted message's id is carried to the effects that follow.
        s = (await this.effect(platform, key, s, effect)) ?? s;
      } catch (err) {
        this.log.error({ thread: s?.key, effect: effect.type, err }, 'effect failed');
      }
    }
  }

  /** Makes one effect visible; returns the thread with any message id it posted. */
  private async effect(platform: Platform, key: ThreadKey, s: ThreadState | undefined, effect: Effect): Promise<ThreadState | void> {
    if (effect.type === 'notice') {
      await this.safePost(platform, key, { kind: 'notice', lang: effect.lang, text: effect.text });
      return;
    }
    if (!s) return;
    switch (effect.type) {
      case 'post-clarify': {
        const id = await platform.post(s.key, clarifyView(s));
        await this.patch(s.key, { clarifyMessageId: id });
        return { ...s, clarifyMessageId: id };
      }
      case 'show-clarify':
        if (s.clarifyMessageId) await platform.update(s.key, s.clarifyMessageId, clarifyView(s), true);
        return;
      case 'post-progress': {
        this.live.delete(s.key);
        // The run is enqueued right after this view is posted: show the place it will take.
        const position = this.queue.position(s.key) ?? this.queue.positionIfAdded(s.requester);
        const id = await platform.post(s.key, progressView(s, undefined, position));
        await this.patch(s.key, { progressMessageId: id });
        return { ...s, progressMessageId: id };
      }
      case 'show-progress':
        await this.showProgress(platform, s, effect.final);
        return;
      case 'run':
        if (!this.stopping) this.queue.add(s.key, s.requester);
        return;
      case 'abort':
        this.queue.cancel(s.key);
        return;
      case 'post-report':
        await this.postReport(platform, s);
        return;
      case 'status':
        // Cosmetic: never waited for, so a slow or hung platform call cannot hold the conversation.
        void platform.setStatus?.(s.key, effect.working ? strings(s.lang).working : null).catch(() => undefined);
        return;
    }
  }

  private async showProgress(platform: Platform, s: ThreadState, final: boolean): Promise<void> {
    const id = s.progressMessageId;
    if (!id) return;
    const words = s.state === 'done' ? this.words.get(s.key) : undefined;
    await platform.update(s.key, id, progressView(s, this.live.get(s.key), this.queue.position(s.key), words), final);
    if (final) {
      this.live.delete(s.key);
      this.words.delete(s.key);
    }
  }

  private async postReport(platform: Platform, s: ThreadState): Promise<void> {
    if (!s.result) return;
    const t = strings(s.lang);
    const report = buildReport({ ...s.result, topic: s.topic, usage: s.usage, referencesHeading: t.referencesHeading });
    this.words.set(s.key, report.wordCount);
    await platform.postReport(s.key, report, s.lang);
    const current = await this.store.get(s.key);
    if (current) await this.apply(s.key, s.platform, current, { type: 'reported', now: this.clock() }, false);
  }

  /** Writes fields that are not part of the state machine (message ids), retrying on a version conflict. */
  private async patch(key: ThreadKey, fields: Partial<ThreadState>): Promise<void> {
    for (let i = 0; i < 3; i++) {
      const current = await this.store.get(key);
      if (!current || (await this.write('save message id', key, () => this.store.save({ ...current, ...fields })))) return;
    }
  }

  private async safePost(platform: Platform, key: ThreadKey, view: Parameters<Platform['post']>[1]): Promise<void> {
    try {
      await platform.post(key, view);
    } catch (err) {
      this.log.warn({ thread: key, err }, 'could not post a notice');
    }
  }

  /** Tells the runs still waiting their new place in the queue. */
  private async refreshPositions(): Promise<void> {
    for (const key of this.queue.waitingKeys()) {
      const s = await this.store.get(key);
      const platform = s && this.platforms.get(s.platform);
      if (s?.state === 'queued' && platform) await this.showProgress(platform, s, false);
    }
  }

  private async execute(key: ThreadKey, signal: AbortSignal): Promise<void> {
    if (this.stopping) return;
    void this.refreshPositions().catch(() => undefined);
    const started = await this.locked(key, async () => {
      const s = await this.store.get(key);
      if (!s || (s.state !== 'queued' && s.state !== 'clarifying')) return undefined;
      return this.apply(key, s.platform, s, { type: 'started', now: this.clock() }, false);
    });
    if (!started || !isActive(started.state)) return;
    await this.research(started, signal);
  }

  private async request(s: ThreadState, platform: Platform): Promise<ResearchRequest> {
    const files = await this.attachments(s, platform);
    const base = { format: this.opts.format, ...(files.length ? { files } : {}) };
    if (s.step === 1) return { messages: [{ role: 'user', content: s.topic }], clarify: true, ...base };
    if (!s.question || !s.answer) return { messages: [{ role: 'user', content: s.topic }], clarify: false, ...base };
    return {
      messages: [
        { role: 'user', content: s.topic },
        { role: 'assistant', content: s.question },
        { role: 'user', content: s.answer },
      ],
      clarify: true,
      ...base,
    };
  }

  /** The request's attached files, fetched from the platform for this run, within the backend's size cap. */
  private async attachments(s: ThreadState, platform: Platform): Promise<{ name: string; data: Uint8Array }[]> {
    const limits = this.rules.files;
    if (!s.files?.length || !platform.download || !limits) return [];
    const out = [];
    for (const f of s.files) {
      try {
        out.push({ name: f.name, data: await platform.download(s.key, f, { maxBytes: limits.maxBytes, timeoutMs: DOWNLOAD_TIMEOUT_MS }) });
      } catch (err) {
        // The platform's message names the file and says why.
        throw new ResearchError('file_rejected', (err as Error)?.message || `${f.name} could not be fetched from the chat.`, { cause: err });
      }
    }
    return out;
  }

  /** The backend went straight into research when asked to clarify: the thread moves to step 2 as it is. */
  private async goDirect(s: ThreadState): Promise<ThreadState | undefined> {
    return this.locked(s.key, async () => {
      const current = await this.store.get(s.key);
      if (current?.state !== 'clarifying') return undefined;
      return this.apply(s.key, s.platform, current, { type: 'direct', now: this.clock() }, false);
    });
  }

  private async research(start: ThreadState, signal: AbortSignal): Promise<void> {
    let s = start;
    const platform = this.platforms.get(s.platform)!;
    const publisher = new ProgressPublisher(this.opts.progressIntervalMs ?? 1000, () => {
      void this.store.get(s.key).then(async (cur) => {
        if (cur?.state === 'researching') await this.showProgress(platform, cur, false);
      });
    });
    let progress = startProgress(this.clock());
    const result: Result = { answer: '', references: [] };
    let input: Input;
    try {
      for await (const e of this.opts.backend.run(await this.request(s, platform), signal)) {
        if (e.type === 'answer') result.answer += e.delta;
        else if (e.type === 'references') result.references.push(...e.references);
        else if (e.type === 'files') Object.assign(result, { files: e.files, filePath: e.filePath });
        const direct = (e.type === 'phase' && e.phase === 'searching') || (e.type === 'done' && e.report === true);
        if (s.step === 1 && direct) s = (await this.goDirect(s)) ?? s;
        if (s.step === 2) {
          const next = advance(progress, e, this.clock());
          const milestone = isMilestone(progress, next);
          progress = next;
          this.live.set(s.key, progress);
          publisher.changed(milestone);
        }
      }
      input =
        s.step === 1
          ? { type: 'clarified', question: result.answer.trim(), now: this.clock() }
          : { type: 'answered', result, usage: progress.usage, now: this.clock() };
      if (progress.usage) this.telemetry.tokensUsed(progress.usage);
    } catch (err) {
      // Cancelled by the person (already recorded) or by shutdown (left for recovery).
      if (signal.aborted) return;
      const error = err instanceof ResearchError ? err : undefined;
      this.telemetry.researchFailed(error?.code ?? 'internal');
      if (!error) this.log.error({ thread: s.key, err }, 'research run failed unexpectedly');
      else this.log.warn({ thread: s.key, code: error.code, requestId: error.requestId, status: error.status }, 'research run failed');
      input = { type: 'failed', code: error?.code ?? 'internal', detail: error?.code === 'file_rejected' ? error.message : error?.upstreamCode, retryable: error ? error.retryable || error.code === 'quota' : true, now: this.clock() };
    } finally {
      publisher.stop();
    }
    await this.locked(s.key, async () => {
      const current = await this.store.get(s.key);
      if (current) await this.apply(s.key, s.platform, current, input, false);
    });
  }
}

/** Asks for a progress view at most once per interval, at once on a milestone, and once more after a quiet spell. */
class ProgressPublisher {
  private last = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly publish: () => void,
  ) {}

  changed(milestone: boolean): void {
    const now = Date.now();
    if (milestone || now - this.last >= this.intervalMs) {
      this.fire(now);
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.fire(Date.now()), this.intervalMs - (now - this.last));
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private fire(now: number): void {
    this.stop();
    this.last = now;
    this.publish();
  }
}
