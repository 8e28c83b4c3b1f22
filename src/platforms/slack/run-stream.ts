import type { KnownBlock } from '@slack/types';
import type { ThreadKey } from '../../core/ports/chat.js';
import { STREAMING_UNAVAILABLE, transient, type SlackFailure } from './errors.js';
import { MILESTONE, URGENT, type StreamCall } from './stream-call.js';
import { StreamChain, type Segment } from './stream-chain.js';
import type { StreamSettings } from './stream-settings.js';
import { StreamText } from './stream-text.js';
import { streamDiff, type Diff } from './stream-diff.js';
import { finalBlocks, planTitle, streamContent, type ProgressView, type StreamContent } from './stream-view.js';
import { parseThreadKey } from './thread-key.js';
import { Drain } from '../drain.js';
import { strings } from '../../core/i18n.js';

/**
 * One run's progress as a chain of streamed messages. The core knows only the first message's ts (`id`); the chain
 * rolls onto a fresh message before Slack's stream lifetime or size cap and after Slack ended a stream, carrying
 * what is not settled: open tasks and text not yet shown. A task settles in the message that shows it complete; a
 * paragraph is shown exactly once, in the message that was streaming when it was appended.
 */
export class RunStream {
  /** The first message's ts: the id the core keeps for the progress message. */
  id = '';
  readonly chain: StreamChain;
  state: 'opening' | 'live' | 'stopped' | 'degraded' | 'done' | 'failed' = 'opening';
  inFlight = false;
  /** Who waits for the call in flight to be answered. */
  readonly answered = new Drain();
  /** Resolves the first startStream: its ts, or undefined when the stream could not be opened. */
  opened: ((ts: string | undefined) => void) | undefined;
  /** The message that replaced the stream when streaming stopped working. */
  fallbackTs: Promise<string | undefined> | undefined;
  /**
   * A plain message posted at once because no stream could be opened right then (Tier 2 is ~20 a minute): it shows the
   * progress until the stream opens, then stays as the run's header. Its ts is the id the core keeps.
   */
  placeholder: string | undefined;
  /** Streams a process before this one may have left open (after a restart): ended before anything else. */
  stale: string[] = [];
  /** One of them is ended (or turned out not to stream). */
  closedStale: ((ts: string) => void) | undefined;
  lastVisibleAt: number;
  readonly text = new StreamText();
  private view: ProgressView;
  private final = false;
  private content: { view: ProgressView; content: StreamContent } | undefined;
  private retryAt = 0;
  private failures = 0;

  constructor(
    readonly thread: ThreadKey,
    readonly recipient: string | undefined,
    view: ProgressView,
    private readonly settings: StreamSettings,
    now: number,
  ) {
    this.view = view;
    this.lastVisibleAt = now;
    this.chain = new StreamChain(settings);
    this.text.fromView(this.currentContent().text);
  }

  get team(): string {
    return parseThreadKey(this.thread).team;
  }

  get latestView(): ProgressView {
    return this.view;
  }

  /** The streamed messages, in order. */
  get messages(): string[] {
    return this.chain.segments.map((s) => s.ts);
  }

  setView(view: ProgressView, final: boolean): void {
    if (this.state === 'done' && !final) this.reopen();
    this.view = view;
    this.final ||= final;
    if (!this.text.delivering) this.text.fromView(this.currentContent().text);
  }

  /** Delivering the report: the stream must show `full` up to `end`. Resolves false when it cannot. */
  deliver(full: string, end: number, timeoutMs: number): Promise<boolean> {
    if (!this.usable()) return Promise.resolve(false);
    return this.text.deliver(full, end, timeoutMs);
  }

  /** Can still show text: live (or about to be), the text not handed over to posted messages. */
  usable(): boolean {
    return (this.state === 'live' || this.state === 'opening') && !this.text.frozen;
  }

  /** The final state is waiting to be shown. */
  get finishing(): boolean {
    return this.final && !this.idle;
  }

  /** Nothing more to send: the final state is shown (or the stream cannot show anything any more). */
  get idle(): boolean {
    return this.state !== 'live' && this.state !== 'opening';
  }

  /** The next call this stream wants, or when to ask again. */
  plan(now: number): StreamCall | { wakeAt?: number } {
    if (this.inFlight || this.idle) return {};
    if (now < this.retryAt) return { wakeAt: this.retryAt };
    if (this.stale[0]) return this.closeStaleCall(this.stale[0]);
    const seg = this.chain.current();
    const title = planTitle(this.view, now);
    const content = this.currentContent();
    if (!seg) return this.startCall(content, title, now);
    const age = now - seg.startedAt;
    const room = this.chain.maxChars - seg.chars;
    const diff = this.diff(content, title, room, false);
    if (this.final) {
      if (diff.overflow) return this.rollCall(seg);
      if (diff.chunks.length > 0) return this.appendCall(diff, now, URGENT);
      return this.finalCall(seg);
    }
    const expiring = age >= this.settings.lifetimeMs;
    // Once the report is being delivered, the thread goes on below the stream: a roll for time alone would put a
    // fresh message under the posted references, so only content rolls then.
    if (this.chain.rollPending || diff.overflow || (expiring && (!this.text.delivering || diff.milestone))) return this.rollCall(seg);
    // While it runs the clock moves: come back when it is time to show it.
    if (diff.chunks.length === 0) return this.view.state === 'researching' ? { wakeAt: Math.max(this.lastVisibleAt + this.settings.tickMs, now + 1000) } : {};
    const due = diff.milestone || this.text.waiting || now - this.lastVisibleAt >= this.settings.tickMs;
    if (!due) return { wakeAt: this.lastVisibleAt + this.settings.tickMs };
    if (expiring) return {};
    return this.appendCall(diff, now, this.text.waiting ? URGENT : diff.milestone ? MILESTONE : 0);
  }

  /** Slack refused a call (a 429 is the scheduler's): what the stream does next. */
  refused(call: StreamCall, failure: SlackFailure, now: number): 'stopped' | 'degrade' | 'unsupported' | undefined {
    const code = failure.code ?? '';
    const seg = this.chain.current();
    if (call.kind === 'close') {
      // Slack may not have heard it: asked again a few times. Else not a stream, or not streaming any more.
      if (transient(failure) && this.failures < 5) return void (this.retryAt = now + Math.min(30_000, 500 * 2 ** ++this.failures));
      this.stale = this.stale.filter((ts) => ts !== call.args.ts);
      this.closedStale?.(String(call.args.ts));
      return undefined;
    }
    if (call.kind === 'open') {
      // With a placeholder the run goes on in it as an edited message; without, the post falls back to one.
      if (this.placeholder) return this.degrade(STREAMING_UNAVAILABLE.has(code) ? 'unsupported' : undefined);
      this.state = 'failed';
      this.opened?.(undefined);
      return STREAMING_UNAVAILABLE.has(code) ? 'unsupported' : undefined;
    }
    if (STREAMING_UNAVAILABLE.has(code)) return this.degrade('unsupported');
    if (code === 'stopped_by_user') {
      this.state = 'stopped';
      this.text.fail();
      return 'stopped';
    }
    if (code === 'message_not_in_streaming_state' && seg) {
      // Slack ended the stream: the next call opens a fresh message carrying what was not settled.
      this.chain.learnLifetime(now - seg.startedAt);
      this.chain.close(seg);
      return undefined;
    }
    if ((code === 'msg_too_long' || code === 'msg_blocks_too_long') && seg) {
      if (call.kind === 'append' && seg.chars > 0) {
        // The message holds less than we thought: the rest goes to a fresh one, and later ones fill up less.
        this.chain.maxChars = Math.max(2_000, Math.min(this.chain.maxChars, seg.chars));
        this.chain.rollPending = true;
        return undefined;
      }
      if (this.text.behind) {
        this.text.freeze();
        return undefined;
      }
      return this.degrade(undefined);
    }
    if (transient(failure)) {
      // Transient: the same call again, later.
      this.failures++;
      if (this.failures > 5) return this.degrade(undefined);
      this.retryAt = now + Math.min(30_000, 500 * 2 ** this.failures);
      return undefined;
    }
    return this.degrade(undefined);
  }

  /** Not opened yet, and the workspace turned out not to stream: the post falls back, or the placeholder carries on. */
  abandon(): 'degrade' | undefined {
    if (this.placeholder) return this.degrade(undefined) && 'degrade';
    this.state = 'failed';
    this.opened?.(undefined);
    return undefined;
  }

  private degrade(result: 'unsupported' | undefined): 'degrade' | 'unsupported' {
    this.state = 'degraded';
    this.text.fail();
    return result ?? 'degrade';
  }

  private reopen(): void {
    // A retried run after its final state: a fresh message, new task ids, no text yet.
    this.chain.restart();
    this.state = 'live';
    this.final = false;
    this.text.reset();
  }

  private currentContent(): StreamContent {
    if (this.content?.view !== this.view) this.content = { view: this.view, content: streamContent(this.view) };
    return this.content.content;
  }

  private startCall(content: StreamContent, title: string, now: number): StreamCall | { wakeAt?: number } {
    if (this.chain.segments.length >= this.settings.maxSegments) {
      this.degrade(undefined);
      return {};
    }
    const diff = this.diff(content, title, this.chain.maxChars, true);
    const { channel, threadTs, team } = parseThreadKey(this.thread);
    const first = this.chain.segments.length === 0 && this.state === 'opening';
    return {
      method: 'chat.startStream',
      kind: first ? 'open' : 'start',
      score: URGENT + (now - this.lastVisibleAt),
      args: {
        channel,
        thread_ts: threadTs,
        ...(this.recipient ? { recipient_user_id: this.recipient, recipient_team_id: team } : {}),
        task_display_mode: 'plan',
        chunks: diff.chunks,
      },
      accepted: (ts, at) => {
        this.chain.started(ts, at);
        diff.record(at);
        if (first) {
          this.id ||= ts ?? '';
          this.state = 'live';
          this.opened?.(ts);
        }
      },
    };
  }

  private appendCall(diff: Diff, now: number, bonus: number): StreamCall {
    const seg = this.chain.current()!;
    return {
      method: 'chat.appendStream',
      kind: 'append',
      score: bonus + (now - this.lastVisibleAt),
      args: { channel: parseThreadKey(this.thread).channel, ts: seg.ts, chunks: diff.chunks },
      accepted: (_ts, at) => diff.record(at),
    };
  }

  private rollCall(seg: Segment): StreamCall {
    return this.chain.rollCall(seg, parseThreadKey(this.thread).channel, this.view.lang);
  }

  private closeStaleCall(ts: string): StreamCall {
    return {
      method: 'chat.stopStream',
      kind: 'close',
      score: URGENT,
      args: { channel: parseThreadKey(this.thread).channel, ts, chunks: [{ type: 'plan_update', title: strings(this.view.lang).restartedBelow }] },
      accepted: () => {
        this.stale = this.stale.filter((x) => x !== ts);
        this.failures = 0;
        this.closedStale?.(ts);
      },
    };
  }

  private finalCall(seg: Segment): StreamCall {
    const blocks: KnownBlock[] = finalBlocks(this.view, this.thread);
    return {
      method: 'chat.stopStream',
      kind: 'final',
      score: URGENT,
      args: { channel: parseThreadKey(this.thread).channel, ts: seg.ts, ...(blocks.length ? { blocks } : {}) },
      accepted: (_ts, at) => {
        seg.open = false;
        this.state = 'done';
        this.lastVisibleAt = at;
        // Nothing of the report is needed any more (a retry starts from scratch).
        this.text.clear();
        this.content = undefined;
        if (this.view.progress) this.view = { ...this.view, progress: { ...this.view.progress, draft: '' } };
      },
    };
  }

  /** What the segment (or a `fresh` one) must be sent to show `content`, within `room`. */
  private diff(content: StreamContent, title: string, room: number, fresh: boolean): Diff {
    return streamDiff(this.chain, this.text, content, title, room, fresh, (now) => {
      this.lastVisibleAt = now;
      this.failures = 0;
    });
  }
}

