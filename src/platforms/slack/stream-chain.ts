import type { AnyChunk } from '@slack/types';
import { URGENT, type StreamCall } from './stream-call.js';
import type { StreamSettings } from './stream-settings.js';
import { continuedTitle, type ProgressView, type StreamContent, type TaskStatus } from './stream-view.js';

interface ShownTask {
  label: string;
  title: string;
  status: TaskStatus;
  details: string;
  sourcesSent: boolean;
  /** The segment that shows it. A task in a closed segment is settled there; an open one moves on at a rollover. */
  segment: number;
}

export interface Segment {
  ts: string;
  startedAt: number;
  /** Text and task content sent to it so far. */
  chars: number;
  open: boolean;
}

/** The plan title and task cards one call sends, and how to record them once Slack accepted it. */
export interface TaskDiff {
  chunks: AnyChunk[];
  milestone: boolean;
  /** Task content in the chunks. */
  size: number;
  /** Records what the segment shows, `size` characters of content in all (tasks and text). */
  record(size: number): void;
}

const settled = (s: TaskStatus) => s === 'complete' || s === 'error';
/** Learned stream lifetimes never go below this: one odd expiry must not make every run roll every few seconds. */
const MIN_LEARNED_LIFETIME_MS = 60_000;

/** The messages one run's progress streams into, and the plan title and task cards each of them shows. */
export class StreamChain {
  readonly segments: Segment[] = [];
  private shownTitle = '';
  private shownTitleKey = '';
  private readonly shown = new Map<string, ShownTask>();
  private generation = 1;
  /** Text and task content one message takes: less once Slack refused a message as too long. */
  maxChars: number;
  /** The current message holds less than was thought: the next call rolls over. */
  rollPending = false;

  constructor(private readonly settings: StreamSettings) {
    this.maxChars = settings.maxSegmentChars;
  }

  /** The message streaming now. */
  current(): Segment | undefined {
    const last = this.segments.at(-1);
    return last?.open ? last : undefined;
  }

  /** Slack accepted a fresh message. */
  started(ts: string | undefined, at: number): void {
    this.segments.push({ ts: ts ?? '', startedAt: at, chars: 0, open: true });
  }

  close(seg: Segment): void {
    seg.open = false;
    // Slack ended the message: a roll that was due has happened.
    this.rollPending = false;
    const index = this.segments.indexOf(seg);
    for (const [id, s] of this.shown) if (s.segment === index && !(settled(s.status) && s.sourcesSent)) this.shown.delete(id);
    this.shownTitle = '';
    this.shownTitleKey = '';
  }

  /** A retried run after its final state: a fresh message, new task ids. */
  restart(): void {
    this.generation++;
    this.shown.clear();
    this.shownTitle = '';
    this.shownTitleKey = '';
    this.maxChars = this.settings.maxSegmentChars;
    for (const s of this.segments) s.open = false;
  }

  learnLifetime(ageMs: number): void {
    const learned = Math.max(MIN_LEARNED_LIFETIME_MS, Math.floor(ageMs * 0.8));
    if (learned < this.settings.lifetimeMs) this.settings.lifetimeMs = learned;
  }

  /** Ends `seg` so that the run goes on in a fresh message. */
  rollCall(seg: Segment, channel: string, lang: ProgressView['lang']): StreamCall {
    const index = this.segments.indexOf(seg);
    // Tasks that go on in the next message keep only their label here, so the model's words show once.
    const chunks: AnyChunk[] = [];
    for (const [id, s] of this.shown) {
      if (s.segment === index && !(settled(s.status) && s.sourcesSent)) chunks.push({ type: 'task_update', id, title: continuedTitle(s, lang), status: 'complete' });
    }
    return {
      method: 'chat.stopStream',
      kind: 'roll',
      score: URGENT,
      args: { channel, ts: seg.ts, ...(chunks.length ? { chunks } : {}) },
      accepted: () => {
        this.rollPending = false;
        this.close(seg);
      },
    };
  }

  /** What the current segment (or a `fresh` one) must be sent to show the plan title and tasks of `content`. */
  diff(content: StreamContent, title: string, fresh: boolean): TaskDiff {
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
    const titleKey = content.titleKey;
    return {
      chunks,
      milestone,
      size,
      record: (total) => {
        const seg = this.segments[index];
        if (seg) seg.chars += total;
        this.shownTitle = title;
        this.shownTitleKey = titleKey;
        for (const [id, s] of updates) this.shown.set(id, s);
      },
    };
  }

  private gid(id: string): string {
    return this.generation > 1 ? `g${this.generation}:${id}` : id;
  }
}
