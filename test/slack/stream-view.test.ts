import type { AnyChunk } from '@slack/types';
import type { WebClient } from '@slack/web-api';
import { describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/core/ports/logger.js';
import type { SlackEditor } from '../../src/platforms/slack/editor.js';
import { SlackPlatform } from '../../src/platforms/slack/outbound.js';
import { advance, startProgress, type Progress } from '../../src/core/progress.js';
import type { ResearchEvent } from '../../src/core/ports/research.js';
import { ACTIONS } from '../../src/platforms/slack/blocks.js';
import { fromFeedback } from '../../src/platforms/slack/inbound.js';
import { finalBlocks, planTitle, streamContent, type ProgressView } from '../../src/platforms/slack/stream-view.js';
import { RunStream } from '../../src/platforms/slack/run-stream.js';
import type { StreamCall } from '../../src/platforms/slack/stream-call.js';
import { DEFAULT_STREAM_SETTINGS, type StreamSettings } from '../../src/platforms/slack/stream-settings.js';
import { fitBlocks, reconcile } from '../../src/platforms/slack/stream-text.js';

const THREAD = 'slack:T1:C1:1700000000.000100';
const T0 = 1_700_000_000_000;

function progress(events: ResearchEvent[], now = T0): Progress {
  return events.reduce((p, e) => advance(p, e, now), startProgress(T0));
}

function view(p: Progress | undefined, over: Partial<ProgressView> = {}): ProgressView {
  return { kind: 'progress', lang: 'en', topic: 'topic', state: 'researching', progress: p, ...over };
}

const site = (n: number, url = `https://s${n}.example/a`) => ({ url, title: `Site ${n}`, description: '' });
const twoRounds: ResearchEvent[] = [
  { type: 'phase', phase: 'planning' },
  { type: 'phase', phase: 'searching' },
  { type: 'query', round: 1, delta: 'first query' },
  { type: 'goal', round: 1, delta: 'first goal' },
  { type: 'sites', round: 1, sites: [site(1), site(2)] },
  { type: 'round-end', round: 1 },
  { type: 'query', round: 2, delta: 'second query' },
  { type: 'usage', usage: { inputTokens: 100, outputTokens: 23 } },
];

describe('progress → plan and task cards', () => {
  it('one task per phase and per round: titled with the query, the goal as details, the sites as sources', () => {
    const c = streamContent(view(progress(twoRounds)));
    expect(c.tasks.map((t) => [t.id, t.title, t.status])).toEqual([
      ['phase:planning', 'Planning the research', 'complete'],
      ['phase:searching', 'Searching the web', 'in_progress'],
      ['round:1', 'Round 1: first query', 'complete'],
      ['round:2', 'Round 2: second query', 'in_progress'],
    ]);
    expect(c.tasks[2]).toMatchObject({ details: 'first goal', sources: [{ type: 'url', url: 'https://s1.example/a', text: 'Site 1' }, { type: 'url', url: 'https://s2.example/a', text: 'Site 2' }] });
    expect(c.text).toBe('');
  });

  it('queued: the first phase is pending and the title gives the place in the queue', () => {
    const v = view(undefined, { state: 'queued', position: 3 });
    expect(streamContent(v).tasks).toEqual([expect.objectContaining({ id: 'phase:planning', status: 'pending' })]);
    expect(planTitle(v, T0)).toBe('Waiting for a free research slot (position 3 in the queue).');
  });

  it('while it runs the title shows the phase, elapsed time (on the platform clock), sources and tokens', () => {
    const v = view(progress(twoRounds, T0 + 65_000));
    expect(planTitle(v, T0 + 65_000)).toBe('Searching the web… · 1 min 5 s · 2 sources · 123 tokens');
    // Nothing new from the model, yet the clock moves.
    expect(planTitle(v, T0 + 80_000)).toBe('Searching the web… · 1 min 20 s · 2 sources · 123 tokens');
  });

  it('a failure marks what was under way as error; done marks everything complete', () => {
    const p = progress(twoRounds);
    const failed = streamContent(view(p, { state: 'failed', failure: { code: 'rate_limited', retryable: true } }));
    expect(failed.tasks.filter((t) => t.status === 'error').map((t) => t.id)).toEqual(['phase:searching', 'round:2']);
    expect(planTitle(view(p, { state: 'failed', failure: { code: 'rate_limited', retryable: true } }), T0)).toMatch(/^The research failed\. DashScope is throttling/);
    const done = streamContent(view(progress([...twoRounds, { type: 'phase', phase: 'writing' }]), { state: 'done', words: 10 }));
    expect(done.tasks.every((t) => t.status === 'complete')).toBe(true);
    expect(done.tasks.at(-1)!.id).toBe('phase:writing');
  });

  it("the model's words cannot mention anyone, open with a heading, exceed Slack's field caps, or link other than http(s)", () => {
    const p = progress([
      { type: 'phase', phase: 'searching' },
      { type: 'query', round: 1, delta: `<!channel> @here ${'x'.repeat(400)}` },
      { type: 'goal', round: 1, delta: '## <@U123> goal' },
      { type: 'sites', round: 1, sites: [site(1, 'javascript:alert(1)'), site(2)] },
    ]);
    const round = streamContent(view(p)).tasks.find((t) => t.id === 'round:1')!;
    expect(round.title.length).toBeLessThanOrEqual(250);
    expect(round.title).not.toContain('<!channel>');
    expect(round.title).not.toMatch(/@here/);
    expect(round.details).not.toMatch(/^#/);
    expect(round.details).not.toContain('<@U123>');
    expect(round.sources.map((s) => s.url)).toEqual(['https://s2.example/a']);
  });

  it('the report while it is written: only complete blocks, citations linked, neutralised', () => {
    const p = progress([
      { type: 'phase', phase: 'writing' },
      { type: 'references', references: [{ index: 1, url: 'https://a.example/x', title: 'A', description: '' }] },
      { type: 'answer', delta: '# Title <!here>\n\nFirst [[1]].\n\nSecond, still bei' },
    ]);
    const text = streamContent(view(p)).text;
    expect(text).toContain('First [\\[1\\]](https://a.example/x "A").');
    expect(text).not.toContain('Second');
    expect(text).not.toContain('<!here>');
  });

  it('final blocks: feedback buttons on a report, Retry on a failure that retrying can fix', () => {
    const done = finalBlocks(view(progress(twoRounds), { state: 'done' }), THREAD);
    expect(done).toEqual([
      {
        type: 'context_actions',
        elements: [expect.objectContaining({ type: 'feedback_buttons', action_id: ACTIONS.feedback, positive_button: expect.objectContaining({ value: `good|${THREAD}` }), negative_button: expect.objectContaining({ value: `bad|${THREAD}` }) })],
      },
    ]);
    const failed = finalBlocks(view(undefined, { state: 'failed', failure: { code: 'unavailable', retryable: true } }), THREAD);
    expect(JSON.stringify(failed)).toContain(ACTIONS.retry);
    expect(JSON.stringify(finalBlocks(view(undefined, { state: 'failed', failure: { code: 'auth', retryable: false } }), THREAD))).not.toContain(ACTIONS.retry);
    expect(fromFeedback(`bad|${THREAD}`, '1.2', 'U9', 'C1')).toEqual({ platform: 'slack', kind: 'feedback', value: 'bad', thread: THREAD, eventId: `feedback:${THREAD}:U9:1.2`, user: 'U9', channel: 'C1' });
    expect(fromFeedback('meh|slack:x', '1', 'U9', 'C1')).toBeUndefined();
  });
});

/** Slack's streams as far as a run sees them: calls accepted in order, each message's task cards and text. */
class Wire {
  now = T0;
  readonly calls: StreamCall[] = [];
  readonly messages: { ts: string; tasks: Map<string, { title: string; status: string; details: string; sources: number }>; text: string; stopped: boolean; blocks: unknown[] }[] = [];
  /** The next call of this kind is refused with this error. */
  refuse: { kind?: string; code: string } | undefined;

  /** Runs the stream until it wants nothing more now. */
  drain(run: RunStream, max = 50): void {
    for (let i = 0; i < max; i++) {
      const call = run.plan(this.now);
      if (!('method' in call)) return;
      this.calls.push(call);
      if (this.refuse && (!this.refuse.kind || this.refuse.kind === call.kind)) {
        const code = this.refuse.code;
        this.refuse = undefined;
        run.refused(call, { code, rateLimited: false }, this.now);
        continue;
      }
      let ts: string | undefined;
      if (call.method === 'chat.startStream') {
        ts = `m${this.messages.length + 1}`;
        this.messages.push({ ts, tasks: new Map(), text: '', stopped: false, blocks: [] });
      }
      const m = this.messages.find((x) => x.ts === (ts ?? call.args.ts))!;
      for (const c of (call.args.chunks ?? []) as AnyChunk[]) {
        if (c.type === 'markdown_text') m.text += c.text;
        if (c.type === 'task_update') {
          const prev = m.tasks.get(c.id);
          m.tasks.set(c.id, { title: c.title, status: c.status, details: (prev?.details ?? '') + (c.details ?? ''), sources: (prev?.sources ?? 0) + (c.sources?.length ?? 0) });
        }
      }
      if (call.method === 'chat.stopStream') {
        m.stopped = true;
        m.blocks = (call.args.blocks as unknown[]) ?? [];
      }
      call.accepted(ts, this.now);
    }
  }

  all(): string {
    return this.messages.map((m) => [...[...m.tasks.values()].map((t) => `${t.title}\n${t.details}`), m.text].join('\n')).join('\n');
  }
}

const settings = (over: Partial<StreamSettings> = {}): StreamSettings => ({ ...DEFAULT_STREAM_SETTINGS, ...over });

describe('a run stream: what it sends, and how it rolls over', () => {
  it('opens with the plan; sends details as they grow (Slack appends them) and sources once, with the round complete', () => {
    const wire = new Wire();
    const events: ResearchEvent[] = [{ type: 'phase', phase: 'searching' }, { type: 'query', round: 1, delta: 'q1' }, { type: 'goal', round: 1, delta: 'the goal' }];
    const run = new RunStream(THREAD, 'U1', view(progress(events)), settings(), T0);
    wire.drain(run);
    expect(run.id).toBe('m1');
    expect(wire.calls[0]!.args).toMatchObject({ channel: 'C1', thread_ts: '1700000000.000100', recipient_user_id: 'U1', recipient_team_id: 'T1', task_display_mode: 'plan' });
    events.push({ type: 'goal', round: 1, delta: ', and more' }, { type: 'sites', round: 1, sites: [site(1), site(2)] });
    run.setView(view(progress(events)), false);
    wire.drain(run);
    events.push({ type: 'round-end', round: 1 });
    run.setView(view(progress(events)), false);
    wire.drain(run);
    const round = wire.messages[0]!.tasks.get('round:1')!;
    expect(round).toEqual({ title: 'Round 1: q1', status: 'complete', details: 'the goal, and more', sources: 2 });
    const detailChunks = wire.calls.flatMap((c) => (c.args.chunks as AnyChunk[]).filter((x) => x.type === 'task_update' && x.id === 'round:1' && x.details));
    expect(detailChunks.map((x) => (x as { details: string }).details)).toEqual(['the goal', ', and more']);
  });

  it('moves the clock only every tickMs, and milestones at once', () => {
    const wire = new Wire();
    const p = progress(twoRounds);
    const run = new RunStream(THREAD, 'U1', view(p), settings({ tickMs: 5000 }), T0);
    wire.drain(run);
    const n = wire.calls.length;
    wire.now += 2000;
    expect(run.plan(wire.now)).toEqual({ wakeAt: T0 + 5000 });
    wire.now = T0 + 5000;
    wire.drain(run);
    expect(wire.calls.length).toBe(n + 1);
    expect(wire.calls.at(-1)!.args.chunks).toEqual([{ type: 'plan_update', title: expect.stringMatching(/Searching the web… · /) }]);
    run.setView(view(progress([...twoRounds, { type: 'round-end', round: 2 }, { type: 'phase', phase: 'writing' }])), false);
    wire.now += 100;
    wire.drain(run);
    expect(wire.calls.length).toBe(n + 2);
  });

  it('rolls over before the lifetime: open tasks continue in the next message, settled ones stay, text shows once', () => {
    const wire = new Wire();
    const events: ResearchEvent[] = [...twoRounds, { type: 'round-end', round: 2 }, { type: 'phase', phase: 'writing' }, { type: 'answer', delta: '# Report\n\nPara one.\n\n' }];
    const run = new RunStream(THREAD, 'U1', view(progress(events)), settings({ lifetimeMs: 10_000 }), T0);
    wire.drain(run);
    wire.now += 11_000;
    events.push({ type: 'answer', delta: 'Para two.\n\nPara three.\n\nTail' });
    run.setView(view(progress(events)), false);
    wire.drain(run);
    expect(wire.messages).toHaveLength(2);
    const [first, second] = wire.messages;
    expect(first!.stopped).toBe(true);
    // Writing was under way: it continues below, named without the model's words.
    expect(first!.tasks.get('phase:writing')).toMatchObject({ title: 'Writing the report · continued below' });
    expect(second!.tasks.get('phase:writing')).toMatchObject({ title: 'Writing the report', status: 'in_progress' });
    expect(second!.tasks.has('round:1')).toBe(false);
    for (const s of ['# Report', 'Para one.', 'Para two.', 'Para three.']) expect(wire.all().split(s).length - 1, s).toBe(1);
    expect(wire.all()).not.toContain('Tail');
  });

  it('after Slack ended a stream it opens a fresh one with what had not been shown; a long report rolls by size', () => {
    const wire = new Wire();
    const paragraphs = Array.from({ length: 12 }, (_, i) => `Paragraph ${i + 1} ${'x'.repeat(300)}.`);
    const events: ResearchEvent[] = [{ type: 'phase', phase: 'writing' }, { type: 'answer', delta: `${paragraphs.slice(0, 4).join('\n\n')}\n\n` }];
    const run = new RunStream(THREAD, 'U1', view(progress(events)), settings({ maxSegmentChars: 1500 }), T0);
    wire.drain(run);
    events.push({ type: 'answer', delta: `${paragraphs.slice(4).join('\n\n')}\n\nend` });
    run.setView(view(progress(events)), false);
    wire.refuse = { kind: 'append', code: 'message_not_in_streaming_state' };
    wire.drain(run);
    const all = wire.all();
    for (const p of paragraphs) expect(all.split(p).length - 1, p.slice(0, 12)).toBe(1);
    expect(wire.messages.length).toBeGreaterThanOrEqual(3);
    for (const m of wire.messages) expect(m.text.length).toBeLessThanOrEqual(1500);
  });

  it('delivers the report parts through the stream, only what it lacks; the final stop carries the feedback buttons', async () => {
    const wire = new Wire();
    const refs = [{ index: 1, url: 'https://a.example/x', title: 'A', description: '' }];
    const events: ResearchEvent[] = [{ type: 'phase', phase: 'writing' }, { type: 'answer', delta: '# Report\n\nOne [[1]].\n\nTw' }];
    const run = new RunStream(THREAD, 'U1', view(progress(events)), settings(), T0);
    wire.drain(run);
    // The references arrived after "One [[1]]" was shown unlinked: the shown block still counts as shown.
    expect(wire.all()).toContain('One \\[1\\].');
    const full = '# Report\n\nOne [\\[1\\]](https://a.example/x "A").\n\nTwo.\n\nThree.';
    expect(reconcile('# Report\n\nOne \\[1\\].', full)).toBe('# Report\n\nOne [\\[1\\]](https://a.example/x "A").');
    const delivered = run.deliver(full, full.length, 1000);
    wire.drain(run);
    expect(await delivered).toBe(true);
    expect(wire.all().split('Two.').length - 1).toBe(1);
    expect(wire.all().split('Three.').length - 1).toBe(1);
    run.setView(view(progress([...events, { type: 'references', references: refs }]), { state: 'done', words: 4 }), true);
    wire.drain(run);
    expect(wire.messages[0]!.stopped).toBe(true);
    expect(JSON.stringify(wire.messages[0]!.blocks)).toContain('feedback_buttons');
    expect(run.idle).toBe(true);
  });

  it('Stop: the run stream ends and tells the platform; unsupported methods are reported for the workspace', () => {
    const wire = new Wire();
    const run = new RunStream(THREAD, 'U1', view(progress(twoRounds)), settings({ tickMs: 0 }), T0);
    wire.drain(run);
    wire.now += 1000;
    const call = run.plan(wire.now) as StreamCall;
    expect(run.refused(call, { code: 'stopped_by_user', rateLimited: false }, wire.now)).toBe('stopped');
    expect(run.idle).toBe(true);
    const other = new RunStream(THREAD, 'U1', view(progress(twoRounds)), settings(), T0);
    let opened: string | undefined = 'pending';
    other.opened = (ts) => (opened = ts);
    const first = other.plan(T0) as StreamCall;
    expect(other.refused(first, { code: 'unknown_method', rateLimited: false }, T0)).toBe('unsupported');
    expect(opened).toBeUndefined();
  });

  it('fits whole blocks only', () => {
    const md = 'A para.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nLast.';
    expect(fitBlocks(md, 1000)).toBe(md.length);
    expect(md.slice(0, fitBlocks(md, 20)).trim()).toBe('A para.');
    expect(fitBlocks(md, 3)).toBe(0);
  });
});

describe('the thread status kept alive with the current phase', () => {
  it('is sent again before Slack drops it (two minutes), saying what the research is doing now', async () => {
    vi.useFakeTimers();
    try {
      const sent: string[] = [];
      const quiet = { assistant: { threads: { setStatus: async (a: { status: string }) => void sent.push(a.status) } } } as unknown as WebClient;
      const editor = { edit() {} } as unknown as SlackEditor;
      const platform = new SlackPlatform(quiet, editor, quiet, silentLogger, []);
      await platform.setStatus(THREAD, 'is researching…');
      expect(sent).toEqual(['is researching…']);
      await platform.update(THREAD, 'm1', view(progress(twoRounds)), false);
      await vi.advanceTimersByTimeAsync(90_000);
      expect(sent).toEqual(['is researching…', 'is searching the web…']);
      await platform.update(THREAD, 'm1', view(progress([...twoRounds, { type: 'phase', phase: 'writing' }])), false);
      await vi.advanceTimersByTimeAsync(90_000);
      expect(sent.at(-1)).toBe('is writing the report…');
      await platform.setStatus(THREAD, null);
      expect(sent.at(-1)).toBe('');
      const n = sent.length;
      await vi.advanceTimersByTimeAsync(300_000);
      expect(sent).toHaveLength(n);
      platform.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
