import type { AnyChunk, KnownBlock } from '@slack/types';
import type { WebClient } from '@slack/web-api';
import { blocks as markdownBlocks } from '../../common/markdown.js';
import { PlatformStats, type ThreadKey } from '../../core/ports/chat.js';
import type { Logger } from '../../core/ports/logger.js';
import { Drain } from '../drain.js';
import { DEFAULT_STREAM_BUDGETS, TokenBucket, type MethodBudget, type StreamMethod } from './budget.js';
import { slackFailure, STREAMING_UNAVAILABLE, type SlackFailure } from './errors.js';
import { continuedTitle, finalBlocks, planTitle, streamContent, type ProgressView, type StreamContent, type TaskStatus } from './stream-view.js';
import { parseThreadKey } from './thread-key.js';

export interface StreamSettings {
  /** Roll onto a fresh message this long after a stream started: Slack ends a stream about 5 minutes (~306 s) after its start. */
  lifetimeMs: number;
  /**
   * Text and task content one streamed message takes before the rest goes to a fresh one. Slack's cap on what a stream
   * accumulates is not documented (12,000 characters is reported); this stays well under it.
   */
  maxSegmentChars: number;
  /** Least time between two updates that only move the figures (elapsed time, tokens): the clock keeps moving. */
  tickMs: number;
  /** Most messages one run may roll onto before it goes back to an edited message. */
  maxSegments: number;
  /** How long delivering a report part through the stream may take before the part is posted as a message instead. */
  deliverTimeoutMs: number;
}

export const DEFAULT_STREAM_SETTINGS: StreamSettings = { lifetimeMs: 240_000, maxSegmentChars: 10_000, tickMs: 5_000, maxSegments: 60, deliverTimeoutMs: 60_000 };

/** Score bonus of work that must not wait behind detail: opening a stream, rolling over, the final state, report text. */
const URGENT = 3_600_000;
/** Score bonus of a milestone (a new task, a status or phase change) over an update that only moves the clock. */
const MILESTONE = 10_000;
/** Learned stream lifetimes never go below this: one odd expiry must not make every run roll every few seconds. */
const MIN_LEARNED_LIFETIME_MS = 60_000;

interface ShownTask {
  label: string;
  title: string;
  status: TaskStatus;
  details: string;
  sourcesSent: boolean;
  /** The segment that shows it. A task in a closed segment is settled there; an open one moves on at a rollover. */
  segment: number;
}

interface Segment {
  ts: string;
  startedAt: number;
  /** Text and task content sent to it so far. */
  chars: number;
  open: boolean;
}

type CallKind = 'open' | 'start' | 'append' | 'roll' | 'final';

export interface StreamCall {
  method: StreamMethod;
  kind: CallKind;
  args: Record<string, unknown>;
  score: number;
  /** Records what the stream shows once Slack accepted the call. */
  accepted(ts: string | undefined, now: number): void;
}

const settled = (s: TaskStatus) => s === 'complete' || s === 'error';

/**
 * One run's progress as a chain of streamed messages. The core knows only the first message's ts (`id`); the chain
 * rolls onto a fresh message before Slack's stream lifetime or size cap and after Slack ended a stream, carrying
 * what is not settled: open tasks and text not yet shown. A task settles in the message that shows it complete; a
 * paragraph is shown exactly once, in the message that was streaming when it was appended.
 */
export class RunStream {
  /** The first message's ts: the id the core keeps for the progress message. */
  id = '';
  readonly segments: Segment[] = [];
  state: 'opening' | 'live' | 'stopped' | 'degraded' | 'done' | 'failed' = 'opening';
  inFlight = false;
  /** Resolves the first startStream: its ts, or undefined when the stream could not be opened. */
  opened: ((ts: string | undefined) => void) | undefined;
  /** The message that replaced the stream when streaming stopped working. */
  fallbackTs: Promise<string | undefined> | undefined;
  /**
   * A plain message posted at once because no stream could be opened right then (Tier 2 is ~20 a minute): it shows the
   * progress until the stream opens, then stays as the run's header. Its ts is the id the core keeps.
   */
  placeholder: string | undefined;
  lastVisibleAt: number;
  /** Report text shown so far, over all segments: a prefix of `textTarget`. */
  textSent = '';
  textFrozen = false;
  /** The report is being delivered through the stream: its text no longer comes from progress views. */
  delivering = false;
  private view: ProgressView;
  private final = false;
  private content: { view: ProgressView; content: StreamContent } | undefined;
  private shownTitle = '';
  private shownTitleKey = '';
  private readonly shown = new Map<string, ShownTask>();
  private textTarget = '';
  private retryAt = 0;
  private failures = 0;
  private rollPending = false;
  private maxChars: number;
  private generation = 1;
  private readonly waiters: { end: number; resolve: (ok: boolean) => void }[] = [];

  constructor(
    readonly thread: ThreadKey,
    readonly recipient: string | undefined,
    view: ProgressView,
    private readonly settings: StreamSettings,
    now: number,
  ) {
    this.view = view;
    this.lastVisibleAt = now;
    this.maxChars = settings.maxSegmentChars;
    this.target(this.currentContent().text);
  }

  get team(): string {
    return parseThreadKey(this.thread).team;
  }

  get latestView(): ProgressView {
    return this.view;
  }

  /** The streamed messages, in order. */
  get messages(): string[] {
    return this.segments.map((s) => s.ts);
  }

  setView(view: ProgressView, final: boolean): void {
    if (this.state === 'done' && !final) this.reopen();
    this.view = view;
    this.final ||= final;
    if (!this.delivering) this.target(this.currentContent().text);
  }

  /** Delivering the report: the stream must show `full` up to `end`. Resolves false when it cannot. */
  deliver(full: string, end: number, timeoutMs: number): Promise<boolean> {
    if (!this.usable()) return Promise.resolve(false);
    if (!this.delivering) {
      this.delivering = true;
      this.textSent = reconcile(this.textSent, full);
      this.textTarget = this.textSent;
    }
    if (!full.startsWith(this.textTarget)) return Promise.resolve(false);
    if (end > this.textTarget.length) this.textTarget = full.slice(0, end);
    if (this.textSent.length >= end) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { end, resolve };
      this.waiters.push(waiter);
      setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        // Too slow: the part goes out as a message, and the stream takes no more text so nothing shows twice.
        this.freezeText();
        resolve(false);
      }, timeoutMs).unref();
    });
  }

  /** How much of `full` (the report body) the streams show: none of it when no report text was streamed. */
  shownOf(full: string): number {
    return this.textSent ? reconcile(this.textSent, full).length : 0;
  }

  /** Can still show text: live (or about to be), the text not handed over to posted messages. */
  usable(): boolean {
    return (this.state === 'live' || this.state === 'opening') && !this.textFrozen;
  }

  freezeText(): void {
    this.textFrozen = true;
    for (const w of this.waiters.splice(0)) w.resolve(false);
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
    const seg = this.current();
    const title = planTitle(this.view, now);
    const content = this.currentContent();
    if (!seg) return this.startCall(content, title, now);
    const age = now - seg.startedAt;
    const room = this.maxChars - seg.chars;
    const diff = this.diff(content, title, room, false);
    if (this.final) {
      if (diff.overflow) return this.rollCall(seg);
      if (diff.chunks.length > 0) return this.appendCall(diff, now, URGENT);
      return this.finalCall(seg);
    }
    const expiring = age >= this.settings.lifetimeMs;
    // Once the report is being delivered, the thread goes on below the stream: a roll for time alone would put a
    // fresh message under the posted references, so only content rolls then.
    if (this.rollPending || diff.overflow || (expiring && (!this.delivering || diff.milestone))) return this.rollCall(seg);
    // While it runs the clock moves: come back when it is time to show it.
    if (diff.chunks.length === 0) return this.view.state === 'researching' ? { wakeAt: Math.max(this.lastVisibleAt + this.settings.tickMs, now + 1000) } : {};
    const due = diff.milestone || this.waiters.length > 0 || now - this.lastVisibleAt >= this.settings.tickMs;
    if (!due) return { wakeAt: this.lastVisibleAt + this.settings.tickMs };
    if (expiring) return {};
    return this.appendCall(diff, now, this.waiters.length > 0 ? URGENT : diff.milestone ? MILESTONE : 0);
  }

  /** Slack refused a call (a 429 is the scheduler's): what the stream does next. */
  refused(call: StreamCall, failure: SlackFailure, now: number): 'stopped' | 'degrade' | 'unsupported' | undefined {
    const code = failure.code ?? '';
    const seg = this.current();
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
      for (const w of this.waiters.splice(0)) w.resolve(false);
      return 'stopped';
    }
    if (code === 'message_not_in_streaming_state' && seg) {
      // Slack ended the stream: the next call opens a fresh message carrying what was not settled.
      this.learnLifetime(now - seg.startedAt);
      this.close(seg);
      return undefined;
    }
    if ((code === 'msg_too_long' || code === 'msg_blocks_too_long') && seg) {
      if (call.kind === 'append' && seg.chars > 0) {
        // The message holds less than we thought: the rest goes to a fresh one, and later ones fill up less.
        this.maxChars = Math.max(2_000, Math.min(this.maxChars, seg.chars));
        this.rollPending = true;
        return undefined;
      }
      if (this.textTarget.length > this.textSent.length) {
        this.freezeText();
        return undefined;
      }
      return this.degrade(undefined);
    }
    if (!failure.code || /^(slack_webapi_request_error|slack_webapi_http_error|internal_error|fatal_error|request_timeout|service_unavailable|ETIMEDOUT)$/.test(code)) {
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
    for (const w of this.waiters.splice(0)) w.resolve(false);
    return result ?? 'degrade';
  }

  private reopen(): void {
    // A retried run after its final state: a fresh message, new task ids, no text yet.
    this.generation++;
    this.state = 'live';
    this.final = false;
    this.shown.clear();
    this.shownTitle = '';
    this.shownTitleKey = '';
    this.textSent = '';
    this.textTarget = '';
    this.textFrozen = false;
    this.delivering = false;
    this.maxChars = this.settings.maxSegmentChars;
    for (const s of this.segments) s.open = false;
  }

  private current(): Segment | undefined {
    const last = this.segments.at(-1);
    return last?.open ? last : undefined;
  }

  private currentContent(): StreamContent {
    if (this.content?.view !== this.view) this.content = { view: this.view, content: streamContent(this.view) };
    return this.content.content;
  }

  /** New report text from a progress view: it only grows; a rendering that changed what is shown is matched block for block. */
  private target(text: string): void {
    if (this.textFrozen || text.length <= this.textTarget.length) return;
    if (!text.startsWith(this.textSent)) this.textSent = reconcile(this.textSent, text);
    this.textTarget = text;
  }

  private learnLifetime(ageMs: number): void {
    const learned = Math.max(MIN_LEARNED_LIFETIME_MS, Math.floor(ageMs * 0.8));
    if (learned < this.settings.lifetimeMs) this.settings.lifetimeMs = learned;
  }

  private close(seg: Segment): void {
    seg.open = false;
    const index = this.segments.indexOf(seg);
    for (const [id, s] of this.shown) if (s.segment === index && !(settled(s.status) && s.sourcesSent)) this.shown.delete(id);
    this.shownTitle = '';
    this.shownTitleKey = '';
  }

  private gid(id: string): string {
    return this.generation > 1 ? `g${this.generation}:${id}` : id;
  }

  private startCall(content: StreamContent, title: string, now: number): StreamCall | { wakeAt?: number } {
    if (this.segments.length >= this.settings.maxSegments) {
      this.degrade(undefined);
      return {};
    }
    const diff = this.diff(content, title, this.maxChars, true);
    const { channel, threadTs, team } = parseThreadKey(this.thread);
    const first = this.segments.length === 0 && this.state === 'opening';
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
        this.segments.push({ ts: ts ?? '', startedAt: at, chars: 0, open: true });
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
    const seg = this.current()!;
    return {
      method: 'chat.appendStream',
      kind: 'append',
      score: bonus + (now - this.lastVisibleAt),
      args: { channel: parseThreadKey(this.thread).channel, ts: seg.ts, chunks: diff.chunks },
      accepted: (_ts, at) => diff.record(at),
    };
  }

  private rollCall(seg: Segment): StreamCall {
    const index = this.segments.indexOf(seg);
    // Tasks that go on in the next message keep only their label here, so the model's words show once.
    const chunks: AnyChunk[] = [];
    for (const [id, s] of this.shown) {
      if (s.segment === index && !(settled(s.status) && s.sourcesSent)) chunks.push({ type: 'task_update', id, title: continuedTitle(s, this.view.lang), status: 'complete' });
    }
    return {
      method: 'chat.stopStream',
      kind: 'roll',
      score: URGENT,
      args: { channel: parseThreadKey(this.thread).channel, ts: seg.ts, ...(chunks.length ? { chunks } : {}) },
      accepted: () => {
        this.rollPending = false;
        this.close(seg);
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
        this.textSent = '';
        this.textTarget = '';
        this.content = undefined;
        if (this.view.progress) this.view = { ...this.view, progress: { ...this.view.progress, draft: '' } };
      },
    };
  }

  /** What the segment must be sent to show `content`: changed tasks, the plan title, report text that fits in `room`. */
  private diff(content: StreamContent, title: string, room: number, fresh: boolean): Diff {
    const chunks: AnyChunk[] = [];
    const updates: [string, ShownTask][] = [];
    const index = fresh ? this.segments.length : this.segments.length - 1;
    let milestone = fresh;
    let size = 0;
    if (fresh || title !== this.shownTitle) {
      chunks.push({ type: 'plan_update', title });
      milestone ||= content.titleKey !== this.shownTitleKey;
    }
    for (const task of content.tasks) {
      const id = this.gid(task.id);
      const s = this.shown.get(id);
      if (s && s.segment !== index) continue; // settled in an earlier message
      const sources = settled(task.status) && task.sources.length > 0 && !s?.sourcesSent ? task.sources : undefined;
      const details = !s ? task.details : task.details.startsWith(s.details) ? task.details.slice(s.details.length) : '';
      if (s && s.title === task.title && s.status === task.status && !details && !sources) continue;
      milestone ||= !s || s.status !== task.status;
      chunks.push({ type: 'task_update', id, title: task.title, status: task.status, ...(details ? { details } : {}), ...(sources ? { sources } : {}) });
      size += task.title.length + details.length + (sources?.reduce((n, x) => n + x.url.length + x.text.length, 0) ?? 0);
      updates.push([
        id,
        {
          label: task.label,
          title: task.title,
          status: task.status,
          details: (s?.details ?? '') + details,
          sourcesSent: (s?.sourcesSent ?? false) || sources !== undefined || (settled(task.status) && task.sources.length === 0),
          segment: index,
        },
      ]);
    }
    let overflow = !fresh && size > room;
    let textSent = this.textSent;
    const pending = this.textTarget.slice(this.textSent.length);
    if (!overflow && !this.textFrozen && pending.trim() && this.textTarget.startsWith(this.textSent)) {
      const body = pending.trimStart();
      const lead = pending.length - body.length;
      const fit = fitBlocks(body, room - size - 2);
      if (fit > 0) {
        // Each piece ends with its paragraph break: Slack may drop whitespace at the start of an appended chunk.
        const piece = body.slice(0, fit).trimEnd();
        chunks.push({ type: 'markdown_text', text: `${piece}\n\n` });
        size += piece.length + 2;
        textSent = this.textTarget.slice(0, this.textSent.length + lead + fit);
        milestone = true;
      } else if (fitBlocks(body, this.maxChars - 2) === 0) {
        // One block larger than a whole message: the report parts carry it, and all after it.
        this.freezeText();
      } else if (!fresh) {
        overflow = true;
      }
      // (A fresh message whose carried tasks leave no room takes the text with its next call.)
    }
    const titleKey = content.titleKey;
    return {
      chunks,
      milestone,
      overflow,
      record: (now) => {
        const seg = this.segments[index];
        if (seg) seg.chars += size;
        this.shownTitle = title;
        this.shownTitleKey = titleKey;
        for (const [id, s] of updates) this.shown.set(id, s);
        if (textSent.length > this.textSent.length && textSent.startsWith(this.textSent)) this.textSent = textSent;
        this.lastVisibleAt = now;
        this.failures = 0;
        for (const w of [...this.waiters]) {
          if (this.textSent.length >= w.end) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(true);
          }
        }
      },
    };
  }
}

interface Diff {
  chunks: AnyChunk[];
  milestone: boolean;
  /** The content does not fit in the current message: roll over first. */
  overflow: boolean;
  record(now: number): void;
}

/** The length of the longest run of whole blocks at the start of `markdown` within `max` characters (0: not even one). */
export function fitBlocks(markdown: string, max: number): number {
  if (markdown.length <= max) return markdown.length;
  const tokens = markdownBlocks(markdown);
  // Offsets come from the blocks' own text; should it not add up to the document, only the whole document is a block.
  if (tokens.map((t) => t.raw).join('') !== markdown) return 0;
  let at = 0;
  for (const t of tokens) {
    if (at + t.raw.trimEnd().length > max) break;
    at += t.raw.length;
  }
  return Math.min(at, max);
}

/**
 * `shown` in the terms of `full`: when the text shown so far is not a prefix of the text as it is now rendered (a
 * citation linked later), the blocks shown are taken to be the same number of blocks of `full`.
 */
export function reconcile(shown: string, full: string): string {
  if (full.startsWith(shown)) return shown;
  const count = markdownBlocks(shown).filter((t) => t.type !== 'space').length;
  let at = 0;
  let seen = 0;
  for (const t of markdownBlocks(full)) {
    if (seen >= count) break;
    at += t.raw.length;
    if (t.type !== 'space') seen++;
  }
  return full.slice(0, at);
}

/**
 * Every run's stream in the workspace, fed through one budget per method (Tier 2 startStream/stopStream, Tier 4
 * appendStream), shared fairly: each call goes to the stream that has waited longest since it last visibly moved,
 * with opening, rolling over, report text and the final state before milestones, and milestones before updates that
 * only move the clock. Calls go through a client that rejects rate-limited calls; a 429 pauses that method only.
 */
export class SlackStreams {
  readonly settings: StreamSettings;
  private readonly active = new Set<RunStream>();
  private readonly byId = new Map<string, RunStream>();
  private readonly byThread = new Map<ThreadKey, RunStream>();
  private readonly buckets = new Map<string, TokenBucket>();
  /** Workspaces that answered that they cannot stream: today's edited message there. */
  private readonly unavailable = new Set<string>();
  private readonly budgets: Record<StreamMethod, MethodBudget>;
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

  constructor(
    private readonly client: WebClient,
    private readonly log: Logger,
    private readonly stats: PlatformStats,
    budgets: Partial<Record<StreamMethod, MethodBudget>> = {},
    settings: Partial<StreamSettings> = {},
  ) {
    this.budgets = { ...DEFAULT_STREAM_BUDGETS, ...budgets };
    this.settings = { ...DEFAULT_STREAM_SETTINGS, ...settings };
  }

  /** The workspace has not said that it cannot stream. */
  available(team: string): boolean {
    return !this.unavailable.has(team);
  }

  /** A stream could be opened right now in the workspace: a start token is there that no other run waits for. */
  canOpenNow(team: string): boolean {
    let waiting = 0;
    for (const run of this.active) if (run.team === team && (run.state === 'opening' || (run.state === 'live' && !run.inFlight && run.segments.at(-1)?.open === false))) waiting++;
    return this.bucket(team, 'chat.startStream').available(Date.now()) > waiting;
  }

  /**
   * A run whose progress was posted as a plain message (`placeholder`, the id the core keeps) because no stream could
   * be opened at once: its stream opens when the budget allows, and the platform is told (`onOpened`).
   */
  openLater(thread: ThreadKey, view: ProgressView, recipient: string, placeholder: string): RunStream {
    const run = new RunStream(thread, recipient, view, this.settings, Date.now());
    run.placeholder = placeholder;
    run.id = placeholder;
    run.opened = () => this.onOpened?.(run);
    this.byId.set(placeholder, run);
    this.byThread.set(thread, run);
    this.active.add(run);
    this.trim();
    this.kick();
    return run;
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

  /** Resolves once no stream has anything left to send, or after `timeoutMs`. */
  drained(timeoutMs = 5000): Promise<void> {
    return this.drain.wait(this.isIdle(), timeoutMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    // A post still waiting for its stream goes out as a plain message instead.
    for (const run of this.active) if (run.state === 'opening') run.opened?.(undefined);
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

  private bucket(team: string, method: StreamMethod): TokenBucket {
    const key = `${team}:${method}`;
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = new TokenBucket(this.budgets[method])));
    return b;
  }

  private pump(): void {
    const now = Date.now();
    let wake = Number.POSITIVE_INFINITY;
    const calls: [RunStream, StreamCall][] = [];
    for (const run of this.active) {
      if (run.state === 'opening' && !run.inFlight && this.unavailable.has(run.team) && run.abandon() === 'degrade') this.onDegraded?.(run);
      if (run.idle && !run.inFlight) {
        this.active.delete(run);
        continue;
      }
      const next = run.plan(now);
      if ('method' in next) calls.push([run, next]);
      else if (next.wakeAt !== undefined) wake = Math.min(wake, next.wakeAt);
      if (run.idle && !run.inFlight) this.active.delete(run);
    }
    calls.sort((a, b) => b[1].score - a[1].score);
    for (const [run, call] of calls) {
      const bucket = this.bucket(run.team, call.method);
      if (!bucket.take(now)) {
        wake = Math.min(wake, bucket.readyAt(now));
        continue;
      }
      void this.send(run, call);
    }
    if (wake < Number.POSITIVE_INFINITY) this.schedule(wake);
    if (this.isIdle()) this.drain.settled();
  }

  private async send(run: RunStream, call: StreamCall): Promise<void> {
    run.inFlight = true;
    try {
      const res = (await this.client.apiCall(call.method, call.args)) as { ts?: string };
      call.accepted(res.ts, Date.now());
    } catch (err) {
      this.refused(run, call, err);
    } finally {
      run.inFlight = false;
      if (run.idle) this.active.delete(run);
      this.kick();
    }
  }

  private refused(run: RunStream, call: StreamCall, err: unknown): void {
    const failure = slackFailure(err);
    if (failure.rateLimited) {
      this.stats.rateLimited++;
      this.bucket(run.team, call.method).pause(Date.now(), failure.retryAfter ?? 1);
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

  /** Forgets finished runs beyond the most recent ones (a late update of a forgotten one becomes an edit). */
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
