import PQueue from 'p-queue';
import { ResearchError, type ReportFormat, type ResearchBackend, type ResearchRequest } from '../research/types.js';
import type { Inbound, Platform, RunState, ThreadKey } from '../platforms/platform.js';
import { isActive, RUNNING_STATES, transition, type Effect, type Input, type Result, type Rules, type ThreadState } from './conversation.js';
import { strings, type Lang } from './i18n.js';
import { silentLogger, type Logger } from './logger.js';
import { noTelemetry, type Telemetry } from './telemetry.js';
import { advance, isMilestone, startProgress, type Progress } from './progress.js';
import { buildReport } from './report.js';
import { clarifyView, progressView } from './views.js';
import { utcDay, type ThreadStore } from '../store/store.js';

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

const BILLED_STATES: RunState[] = ['queued', 'researching'];

/** Runs the conversation's effects: the store, the research queue, the platforms; recovery at start-up. */
export class Engine {
  private readonly store: ThreadStore;
  private readonly platforms: Map<string, Platform>;
  private readonly queue: PQueue;
  private readonly clock: () => number;
  private readonly log: Logger;
  private readonly telemetry: Telemetry;
  private readonly running = new Map<ThreadKey, AbortController>();
  private readonly waiting: ThreadKey[] = [];
  private readonly live = new Map<ThreadKey, Progress>();
  /** Words of a posted report, shown in the final progress view. */
  private readonly words = new Map<ThreadKey, number>();
  private readonly locks = new Map<ThreadKey, Promise<unknown>>();
  private stopping = false;

  constructor(private readonly opts: EngineOptions) {
    this.store = opts.store;
    this.platforms = new Map(opts.platforms.map((p) => [p.name, p]));
    this.queue = new PQueue({ concurrency: opts.limits.maxConcurrent });
    this.clock = opts.clock ?? Date.now;
    this.log = opts.logger ?? silentLogger;
    this.telemetry = opts.telemetry ?? noTelemetry;
  }

  /** Research runs streaming now and waiting for a slot. */
  load(): { running: number; queued: number } {
    return { running: this.running.size, queued: this.waiting.length };
  }

  /** Handles one inbound event. Resolves when its immediate effects are done (research runs in the background). */
  async handle(inbound: Inbound): Promise<void> {
    const now = this.clock();
    // Replies and button presses only matter in threads the bot runs: no store write for the rest of a busy channel.
    if (inbound.kind !== 'mention' && !(await this.store.get(inbound.thread))) return;
    if (!(await this.store.claimEvent(`${inbound.platform}:${inbound.eventId}`, this.opts.eventTtlMs ?? 86_400_000, now))) {
      this.log.debug({ thread: inbound.thread }, 'duplicate delivery ignored');
      return;
    }
    await this.locked(inbound.thread, async () => {
      const current = await this.store.get(inbound.thread);
      const input: Input =
        inbound.kind === 'action'
          ? { type: 'action', action: inbound.action, user: inbound.user, text: inbound.text, now }
          : inbound.kind === 'mention'
            ? { type: 'mention', user: inbound.user, text: inbound.text, platform: inbound.platform, channel: inbound.channel, files: inbound.files, now }
            : { type: 'reply', user: inbound.user, text: inbound.text, now };
      await this.apply(inbound.thread, inbound.platform, current, input, true);
    });
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
    this.queue.clear();
    if (graceMs > 0 && this.running.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.queue.onIdle(), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
    }
    for (const ac of this.running.values()) ac.abort();
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
    const { state, effects } = transition(s, input, this.opts.rules);
    if (state && state !== s) {
      // A person's input that starts a run (new request, answer, retry) must pass the limits first.
      if (admit && effects.some((e) => e.type === 'run')) {
        const refusal = await this.refusal(state.requester, state.channel, state.lang);
        if (refusal) {
          await this.safePost(platform, key, { kind: 'notice', lang: state.lang, text: refusal });
          return s;
        }
      }
      const saved = await this.store.save({ ...state, key, platform: platformName });
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

  /** Why a new run may not start: allow-lists, runs at once per person, runs per person per day. */
  private async refusal(user: string, channel: string, lang: Lang): Promise<string | undefined> {
    const t = strings(lang);
    const { allowedChannels, allowedUsers, perUser, dailyPerUser } = this.opts.limits;
    if (allowedChannels.length > 0 && !allowedChannels.includes(channel)) return t.notAllowedChannel;
    if (allowedUsers.length > 0 && !allowedUsers.includes(user)) return t.notAllowedUser;
    if ((await this.store.countByUser(user, BILLED_STATES)) >= perUser) return t.perUserLimit(perUser);
    if (dailyPerUser > 0 && (await this.store.runsOn(user, utcDay(this.clock()))) >= dailyPerUser) {
      return t.dailyLimit(dailyPerUser);
    }
    return undefined;
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
        const position = this.running.size >= this.opts.limits.maxConcurrent ? this.waiting.length + 1 : undefined;
        const id = await platform.post(s.key, progressView(s, undefined, this.positionOf(s.key) ?? position));
        await this.patch(s.key, { progressMessageId: id });
        return { ...s, progressMessageId: id };
      }
      case 'show-progress':
        await this.showProgress(platform, s, effect.final);
        return;
      case 'run':
        this.enqueue(s.key);
        return;
      case 'abort':
        this.running.get(s.key)?.abort();
        this.dequeue(s.key);
        return;
      case 'post-report':
        await this.postReport(platform, s);
        return;
      case 'status':
        await platform.setStatus?.(s.key, effect.working ? strings(s.lang).working : null).catch(() => undefined);
        return;
    }
  }

  private async showProgress(platform: Platform, s: ThreadState, final: boolean): Promise<void> {
    const id = s.progressMessageId;
    if (!id) return;
    const words = s.state === 'done' ? this.words.get(s.key) : undefined;
    await platform.update(s.key, id, progressView(s, this.live.get(s.key), this.positionOf(s.key), words), final);
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
      if (!current || (await this.store.save({ ...current, ...fields }))) return;
    }
  }

  private async safePost(platform: Platform, key: ThreadKey, view: Parameters<Platform['post']>[1]): Promise<void> {
    try {
      await platform.post(key, view);
    } catch (err) {
      this.log.warn({ thread: key, err }, 'could not post a notice');
    }
  }

  private positionOf(key: ThreadKey): number | undefined {
    const i = this.waiting.indexOf(key);
    return i < 0 ? undefined : i + 1;
  }

  private enqueue(key: ThreadKey): void {
    if (this.stopping || this.waiting.includes(key) || this.running.has(key)) return;
    this.waiting.push(key);
    void this.queue.add(() => this.execute(key)).catch((err) => this.log.error({ thread: key, err }, 'research job failed'));
  }

  private dequeue(key: ThreadKey): void {
    const i = this.waiting.indexOf(key);
    if (i >= 0) this.waiting.splice(i, 1);
  }

  /** Tells the runs still waiting their new place in the queue. */
  private async refreshPositions(): Promise<void> {
    for (const key of [...this.waiting]) {
      const s = await this.store.get(key);
      const platform = s && this.platforms.get(s.platform);
      if (s?.state === 'queued' && platform) await this.showProgress(platform, s, false);
    }
  }

  private async execute(key: ThreadKey): Promise<void> {
    this.dequeue(key);
    if (this.stopping) return;
    const ac = new AbortController();
    this.running.set(key, ac);
    void this.refreshPositions().catch(() => undefined);
    try {
      const started = await this.locked(key, async () => {
        const s = await this.store.get(key);
        if (!s || (s.state !== 'queued' && s.state !== 'clarifying')) return undefined;
        return this.apply(key, s.platform, s, { type: 'started', now: this.clock() }, false);
      });
      if (!started || !isActive(started.state)) return;
      if (started.step === 2) await this.store.countRun(started.requester, utcDay(this.clock()));
      await this.research(started, ac.signal);
    } finally {
      this.running.delete(key);
    }
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

  /** The request's attached files, fetched from the platform for this run. */
  private async attachments(s: ThreadState, platform: Platform): Promise<{ name: string; data: Uint8Array }[]> {
    if (!s.files?.length || !platform.download) return [];
    const out = [];
    for (const f of s.files) {
      try {
        out.push({ name: f.name, data: await platform.download(s.key, f) });
      } catch (err) {
        throw new ResearchError('file_rejected', `${f.name} could not be fetched from the chat.`, { cause: err });
      }
    }
    return out;
  }

  /** The backend went straight into research when asked to clarify: the thread moves to step 2 as it is. */
  private async goDirect(s: ThreadState): Promise<ThreadState | undefined> {
    return this.locked(s.key, async () => {
      const current = await this.store.get(s.key);
      if (current?.state !== 'clarifying') return undefined;
      const next = await this.apply(s.key, s.platform, current, { type: 'direct', now: this.clock() }, false);
      if (next?.step === 2) await this.store.countRun(next.requester, utcDay(this.clock()));
      return next;
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
