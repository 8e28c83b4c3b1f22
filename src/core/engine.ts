import { Admission } from './admission.js';
import { Budget } from './budget.js';
import type { EngineOptions } from './engine-options.js';
import { transition, type Effect, type Input, type Rules } from './conversation.js';
import { Delivery } from './delivery.js';
import { detectLang, strings } from './i18n.js';
import type { Inbound, Platform, ThreadKey, View } from './ports/chat.js';
import { silentLogger, type Logger } from './ports/logger.js';
import type { ThreadStore } from './ports/store.js';
import { noTelemetry, type Telemetry } from './ports/telemetry.js';
import { isActive, RUNNING_STATES, type ThreadState } from './ports/thread.js';
import type { Progress } from './progress.js';
import { runResearch } from './research-run.js';
import { RunQueue } from './run-queue.js';
import type { QueueFactory, ResearchQueue, ThreadLock } from './ports/queue.js';
import { isStoreOutage, persistently, StoreGuard } from './store-guard.js';
import { ThreadLocks } from './thread-locks.js';
import { Followups } from './followup-runner.js';
import { RECOVER_TURNS_MS } from './after-report.js';
import { clarifyView, progressView } from './views.js';

/**
 * Applies the conversation's transitions under a per-thread lock and runs their effects: the store, the
 * research queue, the platforms. An effect that posts answers with an input (`posted`, `report-part`) that is
 * applied and stored before the next effect runs, so every message id goes through the state machine.
 */
export class Engine {
  private readonly store: ThreadStore;
  private readonly platforms: Map<string, Platform>;
  private readonly queue: ResearchQueue;
  private readonly admission: Admission;
  private readonly guard: StoreGuard;
  private readonly delivery: Delivery;
  private readonly budget: Budget;
  private readonly rules: Rules;
  private readonly clock: () => number;
  private readonly log: Logger;
  private readonly telemetry: Telemetry;
  private readonly live = new Map<ThreadKey, Progress>();
  private readonly locks: ThreadLock;
  private readonly followups?: Followups;
  private stopping = false;

  constructor(private readonly opts: EngineOptions) {
    this.store = opts.store;
    this.platforms = new Map(opts.platforms.map((p) => [p.name, p]));
    this.clock = opts.clock ?? Date.now;
    this.log = opts.logger ?? silentLogger;
    this.telemetry = opts.telemetry ?? noTelemetry;
    this.rules = { ...opts.rules, files: opts.backend.files, images: opts.backend.images };
    this.guard = new StoreGuard(this.log);
    this.budget = new Budget(this.store, this.clock, this.telemetry, opts.budget ?? { model: opts.backend.name });
    this.delivery = new Delivery(this.clock, this.log, this.telemetry, opts.postRetryDelaysMs, this.budget, opts.pages);
    this.admission = new Admission(this.store, opts.limits, this.clock, this.telemetry, this.budget);
    const delays = opts.postRetryDelaysMs ?? [1000, 4000];
    const apply = (key: ThreadKey, input: Input) => this.applyLocked(key, () => input);
    const deps = { clock: this.clock, log: this.log, telemetry: this.telemetry, intervalMs: opts.progressIntervalMs ?? 1000, retryDelaysMs: delays, read: (k: ThreadKey) => this.store.get(k), apply };
    if (opts.followup) this.followups = new Followups({ ...opts.followup, budget: new Budget(this.store, this.clock, this.telemetry, opts.followup.budget) }, deps);
    this.locks = opts.locks ?? new ThreadLocks();
    const queue: QueueFactory = opts.queue ?? ((n, execute, onError) => new RunQueue(n, execute, onError));
    this.queue = queue(opts.limits.maxConcurrent, (key, signal) => this.execute(key, signal), (key, err) => this.log.error({ thread: key, err }, 'research job failed'));
  }

  /** Research runs streaming now and waiting for a slot (in this process). */
  load = (): { running: number; queued: number } => this.queue.size;

  /** Not ready while the last store write failed: the reason names the write and its error. */
  health(): { ready: boolean; reason?: string } {
    const reason = this.stopping ? 'draining: finishing the research running here' : this.guard.problem && `store: ${this.guard.problem}`;
    return reason ? { ready: false, reason } : { ready: true };
  }

  /**
   * Handles one inbound event. Resolves when its immediate effects are done (research runs in the background).
   * When the store cannot be written, the person is told to try again and /healthz reports why.
   */
  async handle(inbound: Inbound): Promise<void> {
    try {
      await this.route(inbound);
    } catch (err) {
      if (!isStoreOutage(err)) throw err;
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
    if (!thread || (inbound.kind !== 'mention' && inbound.kind !== 'unsupported' && !(await this.store.get(thread)))) return;
    const id = `${inbound.platform}:${inbound.eventId}`;
    if (!(await this.guard.write('claim event', thread, () => this.store.claimEvent(id, this.opts.eventTtlMs ?? 86_400_000, now)))) {
      this.log.debug({ thread }, 'duplicate delivery ignored');
      return;
    }
    if (inbound.kind === 'unsupported') {
      const { language } = this.rules;
      const text = language === 'auto' ? `${strings('en').unsupported}\n${strings('zh').unsupported}` : strings(language).unsupported;
      const platform = this.platforms.get(inbound.platform);
      if (platform) await this.safePost(platform, thread, { kind: 'notice', lang: language === 'zh' ? 'zh' : 'en', text });
      return;
    }
    if (inbound.kind === 'feedback') return this.guard.write('save feedback', thread, () => this.store.saveFeedback(thread, inbound.user, inbound.value, now));
    if (inbound.kind === 'stopped') {
      // The platform's Stop is the requester's own control: it cancels like the Cancel button.
      return void (await this.applyLocked(thread, (s) => ({ type: 'action', action: 'cancel', user: s.requester, now })));
    }
    const input: Input =
      inbound.kind === 'action'
        ? { type: 'action', action: inbound.action, user: inbound.user, text: inbound.text, now }
        : inbound.kind === 'mention'
          ? { type: 'mention', user: inbound.user, text: inbound.text, platform: inbound.platform, channel: inbound.channel, files: inbound.files, now }
          : { type: 'reply', user: inbound.user, text: inbound.text, now };
    await this.locks.run(thread, async () => this.apply(thread, inbound.platform, await this.store.get(thread), input));
  }

  /**
   * Start-up recovery: every thread caught mid-run is re-run (bounded) or failed, and told so; a message or
   * report part not confirmed posted is posted (or adopted); open questions are shown again.
   */
  async recover(): Promise<void> {
    // Follow-up questions a restart left unanswered are in finished threads written within the last hour.
    const finished = this.followups ? await this.store.inStates(['done', 'failed', 'cancelled'], this.clock() - RECOVER_TURNS_MS) : [];
    for (const s of [...(await this.store.inStates([...RUNNING_STATES, 'awaiting_answer'])), ...finished]) {
      if (!this.platforms.has(s.platform)) continue;
      await this.locks.run(s.key, async () => {
        // Changed since it was listed, or queued or running (in another process of a cluster): not a leftover.
        const current = await this.store.get(s.key);
        if (current?.version !== s.version || (await this.queue.has(s.key))) return;
        await this.apply(s.key, s.platform, current, { type: 'recover', now: this.clock(), shared: this.queue.shared });
      });
    }
    await this.queue.start?.();
  }

  /**
   * Stops taking work. Runs still waiting stay queued in the store; running research gets `graceMs` to finish
   * and post its report, then its stream is closed and it is left in the store for recovery at the next start.
   */
  async stop(graceMs = 0): Promise<void> {
    this.stopping = true;
    await this.queue.pause();
    if (graceMs > 0 && this.queue.size.running > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.queue.onIdle(), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
    }
    await this.queue.abortAll();
    await Promise.all([this.queue.onIdle(), this.followups?.stop()]);
    await this.locks.settled();
    await this.queue.close?.();
  }

  /** Applies an input to the thread as it is when its lock is free. */
  private applyLocked(key: ThreadKey, input: (s: ThreadState) => Input): Promise<ThreadState | undefined> {
    return this.locks.run(key, async () => {
      const current = await this.store.get(key);
      return current && this.apply(key, current.platform, current, input(current));
    });
  }

  /** One transition under the lock: admitted (when it starts a billed run) and stored, then its effects run. */
  private async apply(key: ThreadKey, platformName: string, s: ThreadState | undefined, input: Input): Promise<ThreadState | undefined> {
    const platform = this.platforms.get(platformName);
    if (!platform) return s;
    const t = transition(s, input, this.rules);
    let state = s;
    if (t.state && t.state !== s) {
      const next = { ...t.state, key, platform: platformName };
      if (t.admit || t.followup) {
        const write = <T>(op: string, f: () => Promise<T>) => this.guard.write(op, key, f);
        const verdict = t.followup ? await this.admission.followup(next, t.followup, this.followups?.settings.limitPerHour, write) : await this.admission.admit(next, s, write);
        if (!verdict.ok) {
          if (verdict.tell) await this.safePost(platform, key, { kind: 'notice', lang: next.lang, text: verdict.text });
          return s;
        }
        state = verdict.state;
        if (verdict.warn) await this.safePost(platform, key, { kind: 'notice', lang: next.lang, text: verdict.warn });
      } else {
        state = await this.save(next);
        if (!state) return s;
      }
    }
    return this.run(platform, key, state, t.effects);
  }

  private async save(next: ThreadState): Promise<ThreadState | undefined> {
    const saved = await this.guard.write('save thread', next.key, () => this.store.save(next));
    if (!saved) this.log.warn({ thread: next.key }, 'thread changed elsewhere; change dropped');
    return saved;
  }

  /** Runs effects in order; an effect's follow-up input is applied and stored, and its effects run next. */
  private async run(platform: Platform, key: ThreadKey, s: ThreadState | undefined, effects: Effect[]): Promise<ThreadState | undefined> {
    const todo = [...effects];
    while (todo.length > 0) {
      const effect = todo.shift()!;
      let follow: Input | void;
      try {
        follow = await this.effect(platform, key, s, effect);
      } catch (err) {
        this.log.error({ thread: key, effect: effect.type, err }, 'effect failed');
        continue;
      }
      if (!follow || !s) continue;
      const t = transition(s, follow, this.rules);
      if (t.state && t.state !== s) {
        const saved = await this.save(t.state);
        if (!saved) return s;
        s = saved;
      }
      todo.unshift(...t.effects);
    }
    return s;
  }

  /** Makes one effect visible; an effect that posts returns what happened as the next input. */
  private async effect(platform: Platform, key: ThreadKey, s: ThreadState | undefined, effect: Effect): Promise<Input | void> {
    if (effect.type === 'notice') return this.safePost(platform, key, { kind: 'notice', lang: effect.lang, text: effect.text });
    if (!s) return;
    switch (effect.type) {
      case 'post-clarify':
        return this.delivery.post(platform, s, 'clarify', clarifyView(s), effect.resume);
      case 'post-progress':
        this.live.delete(s.key);
        // The run is enqueued right after this view is posted: show the place it will take.
        return this.delivery.post(platform, s, 'progress', progressView(s, undefined, { position: (await this.queue.position(s.key)) ?? (await this.queue.positionIfAdded(s.requester)) }), effect.resume);
      case 'show-clarify':
        if (s.clarifyMessageId) await platform.update(s.key, s.clarifyMessageId, clarifyView(s), true);
        return;
      case 'show-progress':
        return this.showProgress(platform, s, effect.final);
      case 'run':
        // Even while stopping: a shared queue gives it to another process; the local one keeps it in the store.
        return void (await this.queue.add(s.key, s.requester));
      case 'abort':
        return this.queue.cancel(s.key);
      case 'publish-page':
        return this.delivery.publishPage(s, this.live.get(s.key));
      case 'post-report':
        return this.delivery.reportPart(platform, s, effect.resume);
      case 'followup':
        return this.followups?.start(platform, s.key, effect.id, effect.resume);
      case 'status':
        // Cosmetic: never waited for, so a slow or hung platform call cannot hold the conversation.
        void platform.setStatus?.(s.key, effect.working ? strings(s.lang).working : null).catch(() => undefined);
        return;
    }
  }

  private async showProgress(platform: Platform, s: ThreadState, final: boolean): Promise<void> {
    if (!s.progressMessageId) return;
    const live = this.live.get(s.key);
    const extra = { position: await this.queue.position(s.key), words: s.state === 'done' ? s.words : undefined, cost: this.budget.format(live?.usage ?? s.usage), further: s.state === 'done' && !!s.report };
    await platform.update(s.key, s.progressMessageId, progressView(s, live, extra), final);
    if (final) this.live.delete(s.key);
  }

  private async safePost(platform: Platform, key: ThreadKey, view: View): Promise<void> {
    await platform.post(key, view).catch((err: unknown) => this.log.warn({ thread: key, err }, 'could not post a notice'));
  }

  /** Tells the runs still waiting their new place in the queue. */
  private async refreshPositions(): Promise<void> {
    for (const key of await this.queue.waitingKeys()) {
      const s = await this.store.get(key);
      const platform = s && this.platforms.get(s.platform);
      if (s?.state === 'queued' && platform) await this.showProgress(platform, s, false);
    }
  }

  /** A run's turn in the queue: start it (stored), stream it, and apply how it ended. */
  private async execute(key: ThreadKey, signal: AbortSignal): Promise<void> {
    void this.refreshPositions().catch(() => undefined);
    const inLock = (input: () => Input) => this.applyLocked(key, input);
    // Marked running, the thread's last run never ended: its process died (a cluster hands the job on). Recover it
    // like a restart would: announced, bounded by the attempts, or its stored report delivered.
    const before = await this.store.get(key);
    if (before?.running || (before?.state === 'researching' && before.result)) {
      this.telemetry.takenOver();
      await inLock(() => ({ type: 'recover', now: this.clock() }));
    }
    const started = await inLock(() => ({ type: 'started', now: this.clock() }));
    if (!started || !isActive(started.state) || !started.running) return;
    const platform = this.platforms.get(started.platform)!;
    const opts = { backend: this.opts.backend, format: this.opts.format, clock: this.clock, log: this.log, telemetry: this.telemetry, progressIntervalMs: this.opts.progressIntervalMs ?? 1000 };
    const { input: end, usage } = await runResearch(opts, started, platform, signal, {
      progress: (p) => this.live.set(key, p),
      show: () => void this.store.get(key).then((cur) => (cur?.state === 'researching' ? this.showProgress(platform, cur, false) : undefined)).catch(() => undefined),
      direct: () => inLock(() => ({ type: 'direct', now: this.clock() })),
    });
    await this.guard.write('record spend', key, () => this.budget.record(usage)).catch(() => undefined);
    if (end) await persistently(() => inLock(() => end), this.log, key, () => this.stopping);
  }
}
