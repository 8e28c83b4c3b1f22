import type { WebClient } from '@slack/web-api';
import { PlatformStats, type ThreadKey } from '../../core/ports/chat.js';
import type { Logger } from '../../core/ports/logger.js';
import { Drain } from '../drain.js';
import { StreamBudgets, type MethodBudget, type StreamMethod } from './budget.js';
import { slackFailure } from './errors.js';
import { RunStream } from './run-stream.js';
import type { StreamCall } from './stream-call.js';
import { DEFAULT_STREAM_SETTINGS, type StreamSettings } from './stream-settings.js';
import type { ProgressView } from './stream-view.js';
import type { SharedBudget } from '../shared-budget.js';

/** The longest a delivery waits for a run's call in flight: beyond the stream client's own timeout (10 s). */
const SETTLE_MS = 12_000;

/**
 * Every run's stream in the workspace, fed through one budget per method (Tier 2 startStream/stopStream, Tier 4
 * appendStream), shared fairly: each call goes to the stream that has waited longest since it last visibly moved,
 * with opening, rolling over, report text and the final state before milestones, and milestones before updates that
 * only move the clock. Only as many runs stream at once as the append budget keeps moving every `freshMs`
 * (`capacity`); the others show their progress in a posted placeholder, edited within chat.update's own budget, and
 * the one that has waited longest opens its stream when a stream ends. Calls go through a client that rejects rate-limited calls; a 429 pauses that method only.
 * With a shared budget (several processes), a call that won a local token also takes one from the cluster-wide
 * bucket `slack:<team>:<method>` with the same limits, waiting for it (its run holds its turn meanwhile), and a 429
 * pauses that bucket for every process.
 */
export class SlackStreams {
  readonly settings: StreamSettings;
  private readonly active = new Set<RunStream>();
  private readonly byId = new Map<string, RunStream>();
  private readonly byThread = new Map<ThreadKey, RunStream>();
  /** Workspaces that answered that they cannot stream: today's edited message there. */
  private readonly unavailable = new Set<string>();
  private readonly budgets: StreamBudgets;
  private timer: NodeJS.Timeout | undefined;
  private wakeAt = Number.POSITIVE_INFINITY;
  private readonly drain = new Drain();
  private stopped = false;
  /** The person pressed Stop on a run's stream. */
  onStopped: ((run: RunStream) => void) | undefined;
  /** A run's stream cannot go on: the platform shows it the old way. */
  onDegraded: ((run: RunStream) => void) | undefined;
  /** A run that started with a placeholder message now streams. */
  onOpened: ((run: RunStream) => void) | undefined;
  /** A run's placeholder (a stream from before a restart) is ended: it can be edited. */
  onPlaceholderFree: ((run: RunStream) => void) | undefined;

  constructor(
    private readonly client: WebClient,
    private readonly log: Logger,
    private readonly stats: PlatformStats,
    budgets: Partial<Record<StreamMethod, MethodBudget>> = {},
    settings: Partial<StreamSettings> = {},
    shared?: SharedBudget,
  ) {
    this.budgets = new StreamBudgets(budgets, shared);
    this.settings = { ...DEFAULT_STREAM_SETTINGS, ...settings };
  }

  /** The workspace has not said that it cannot stream. */
  available(team: string): boolean {
    return !this.unavailable.has(team);
  }

  /**
   * A stream could be opened right now in the workspace: fewer runs stream (or wait to) than the append budget keeps
   * fresh, and a start token is there that no other run waits for.
   */
  canOpenNow(team: string): boolean {
    let waiting = 0;
    let occupied = 0;
    for (const run of this.active) {
      if (run.team !== team) continue;
      if (run.state === 'opening' || run.state === 'live') occupied++;
      if (run.state === 'opening' || (run.state === 'live' && !run.inFlight && run.chain.segments.at(-1)?.open === false)) waiting++;
    }
    return occupied < this.capacity() && this.budgets.bucket(team, 'chat.startStream').available(Date.now()) > waiting;
  }

  /** Runs that may stream at once in one workspace (see StreamSettings.freshMs). */
  capacity(): number {
    return this.settings.maxStreams ?? Math.max(1, Math.floor((this.budgets.limits['chat.appendStream'].perMinute * this.settings.freshMs) / 60_000));
  }

  /**
   * A run whose progress was posted as a plain message (`placeholder`, the id the core keeps) because no stream could
   * be opened at once: its stream opens when the budget allows, and the platform is told (`onOpened`). `stale`: messages
   * of a process before this one, perhaps streams still open (the placeholder among them): they are ended first.
   */
  openLater(thread: ThreadKey, view: ProgressView, recipient: string, placeholder: string, stale: string[] = []): RunStream {
    const run = new RunStream(thread, recipient, view, this.settings, Date.now());
    run.placeholder = placeholder;
    run.stale = [...stale];
    // Its own stream ended, the placeholder can show the progress while the run waits for a fresh one.
    run.closedStale = (ts) => ts === placeholder && run.state === 'opening' && this.onPlaceholderFree?.(run);
    run.id = placeholder;
    run.opened = () => this.onOpened?.(run);
    this.byId.set(placeholder, run);
    this.byThread.set(thread, run);
    this.active.add(run);
    this.trim();
    this.kick();
    return run;
  }

  /** More messages `run` is to end first (found after it was set up). */
  addStale(run: RunStream, stale: string[]): void {
    for (const ts of stale) if (!run.stale.includes(ts)) run.stale.push(ts);
    if (stale.length > 0 && !run.idle) this.active.add(run);
    this.kick();
  }

  /** Opens a run's stream with its first view; its ts, or undefined when streaming cannot be used for it. */
  async open(thread: ThreadKey, view: ProgressView, recipient: string | undefined): Promise<string | undefined> {
    const run = new RunStream(thread, recipient, view, this.settings, Date.now());
    const opened = new Promise<string | undefined>((resolve) => (run.opened = resolve));
    this.active.add(run);
    this.kick();
    const ts = await opened;
    if (!ts) {
      this.active.delete(run);
      return undefined;
    }
    this.byId.set(ts, run);
    this.byThread.set(thread, run);
    this.trim();
    return ts;
  }

  /** The run whose progress message (the first streamed one) is `messageId`. */
  get(messageId: string): RunStream | undefined {
    return this.byId.get(messageId);
  }

  /** The thread's latest run stream. */
  ofThread(thread: ThreadKey): RunStream | undefined {
    return this.byThread.get(thread);
  }

  /** The thread starts a new progress message: its earlier run stream is no longer the thread's. */
  forget(thread: ThreadKey): void {
    this.byThread.delete(thread);
  }

  update(run: RunStream, view: ProgressView, final: boolean): void {
    run.setView(view, final);
    if (!run.idle) this.active.add(run);
    this.kick();
  }

  /** Shows the report through the run's stream up to `end` of `full`; false when it could not (post the part instead). */
  async deliver(run: RunStream, full: string, end: number): Promise<boolean> {
    const done = run.deliver(full, end, this.settings.deliverTimeoutMs);
    this.kick();
    return done;
  }

  /**
   * Resolves once the run has no call in flight (Slack answered it, or the client gave up on it), or after
   * `timeoutMs`: what the stream shows is then known, up to a call whose answer was lost.
   */
  settled(run: RunStream, timeoutMs = SETTLE_MS): Promise<void> {
    return run.answered.wait(!run.inFlight, timeoutMs);
  }

  /** Resolves once no stream has anything left to send, or after `timeoutMs`. */
  drained(timeoutMs = 5000): Promise<void> {
    return this.drain.wait(this.isIdle(), timeoutMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    // A post still waiting for its stream goes out as a plain message instead.
    for (const run of this.active) if (run.state === 'opening' && !run.placeholder) run.opened?.(undefined);
  }

  /** Runs streaming per workspace: live, or their first start on its way. */
  private streamingByTeam(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const run of this.active) if (run.state === 'live' || (run.state === 'opening' && run.inFlight)) counts.set(run.team, (counts.get(run.team) ?? 0) + 1);
    return counts;
  }

  /** No call in flight and no final state waiting (a run left mid-way at shutdown is not waited for). */
  private isIdle(): boolean {
    for (const run of this.active) if (run.finishing || run.inFlight) return false;
    return true;
  }

  private kick(): void {
    this.schedule(Date.now());
  }

  private schedule(at: number): void {
    if (this.stopped) return;
    if (this.timer && at >= this.wakeAt) return;
    clearTimeout(this.timer);
    this.wakeAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.wakeAt = Number.POSITIVE_INFINITY;
      this.pump();
    }, Math.max(0, at - Date.now()));
  }

  private pump(): void {
    const now = Date.now();
    let wake = Number.POSITIVE_INFINITY;
    const calls: [RunStream, StreamCall][] = [];
    for (const run of this.active) {
      // Not opened yet, and the workspace turned out not to stream; or a run still shown in its placeholder when its
      // report comes or it ends: it stays there (a stream opened now would only repeat it, and the report wait for it).
      const stays = this.unavailable.has(run.team) || (run.placeholder !== undefined && run.stale.length === 0 && (run.finishing || run.text.waiting));
      if (run.state === 'opening' && !run.inFlight && stays && run.abandon() === 'degrade') this.onDegraded?.(run);
      if (run.idle && !run.inFlight) {
        this.active.delete(run);
        continue;
      }
      const before = run.state;
      const next = run.plan(now);
      // A run that ran out of messages (maxSegments) goes on in today's edited message.
      if (run.state === 'degraded' && before !== 'degraded') this.onDegraded?.(run);
      if ('method' in next) calls.push([run, next]);
      else if (next.wakeAt !== undefined) wake = Math.min(wake, next.wakeAt);
      if (run.idle && !run.inFlight) this.active.delete(run);
    }
    calls.sort((a, b) => b[1].score - a[1].score);
    const streaming = this.streamingByTeam();
    for (const [run, call] of calls) {
      // A run shown in its placeholder opens its stream once a stream in the workspace has ended (longest wait first).
      const gated = call.kind === 'open' && run.placeholder !== undefined;
      if (gated && (streaming.get(run.team) ?? 0) >= this.capacity()) continue;
      const bucket = this.budgets.bucket(run.team, call.method);
      if (!bucket.take(now)) {
        wake = Math.min(wake, bucket.readyAt(now));
        continue;
      }
      if (gated) streaming.set(run.team, (streaming.get(run.team) ?? 0) + 1);
      void this.send(run, call);
    }
    if (wake < Number.POSITIVE_INFINITY) this.schedule(wake);
    if (this.isIdle()) this.drain.settled();
  }

  private async send(run: RunStream, call: StreamCall): Promise<void> {
    run.inFlight = true;
    try {
      // Stopped while it waited for the cluster's budget: the call is not made (the others take over).
      if (!(await this.budgets.acquireShared(run.team, call.method, () => this.stopped))) return;
      // Report text whose part was posted while the call waited for the cluster's budget: planned again without it.
      if (run.text.frozen && (call.args.chunks as { type: string }[] | undefined)?.some((c) => c.type === 'markdown_text')) return;
      const res = (await this.client.apiCall(call.method, call.args)) as { ts?: string };
      call.accepted(res.ts, Date.now());
    } catch (err) {
      this.refused(run, call, err);
    } finally {
      run.inFlight = false;
      run.answered.settled();
      if (run.idle) this.active.delete(run);
      this.kick();
    }
  }

  private refused(run: RunStream, call: StreamCall, err: unknown): void {
    const failure = slackFailure(err);
    if (failure.rateLimited) {
      this.stats.rateLimited++;
      this.budgets.limited(run.team, call.method, failure.retryAfter ?? 1);
      return;
    }
    const outcome = run.refused(call, failure, Date.now());
    if (failure.code !== 'message_not_in_streaming_state') this.stats.error(failure.code);
    this.log.info({ thread: run.thread, method: call.method, error: failure.code, outcome: outcome ?? 'retry' }, 'stream call refused');
    if (outcome === 'unsupported') {
      this.unavailable.add(run.team);
      this.log.warn({ team: run.team, error: failure.code }, 'this workspace cannot stream messages; progress goes back to an edited message');
    }
    if (outcome === 'stopped') this.onStopped?.(run);
    if ((outcome === 'degrade' || outcome === 'unsupported') && (call.kind !== 'open' || run.placeholder)) this.onDegraded?.(run);
  }

  /** Forgets finished runs beyond the most recent ones (a late update of a forgotten one is taken over as after a restart). */
  private trim(): void {
    if (this.byId.size <= 1000) return;
    for (const [id, run] of this.byId) {
      if (this.byId.size <= 800) break;
      if (run.idle) {
        this.byId.delete(id);
        if (this.byThread.get(run.thread) === run) this.byThread.delete(run.thread);
      }
    }
  }
}
