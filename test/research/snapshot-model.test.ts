import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createQwenBackend, QwenMapper } from '../../src/research/qwen.js';
import type { ResearchEvent } from '../../src/core/ports/research.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { defaultScript, researchFrames, SNAPSHOT_MODEL, snapshotResearchFrames } from '../fakes/dashscope-script.js';
import { makeEngine, mention } from '../core/harness.js';

type Frame = Record<string, unknown>;

function mapAll(frames: Frame[]): ResearchEvent[] {
  const mapper = new QwenMapper();
  const events = frames.flatMap((f) => mapper.map(f));
  events.push(mapper.finish());
  return events;
}

/** What the progress and the report are made of, per round, whatever order the frames came in. */
function summary(events: ResearchEvent[]) {
  const rounds = new Map<number, { query: string; goal: string; sites: string[]; learning: string; ends: number }>();
  const round = (n: number) => {
    if (!rounds.has(n)) rounds.set(n, { query: '', goal: '', sites: [], learning: '', ends: 0 });
    return rounds.get(n)!;
  };
  let plan = '';
  let answer = '';
  const references: string[] = [];
  const phases: string[] = [];
  for (const e of events) {
    if (e.type === 'phase') phases.push(e.phase);
    else if (e.type === 'plan') plan += e.delta;
    else if (e.type === 'round') round(e.round);
    else if (e.type === 'query') round(e.round).query += e.delta;
    else if (e.type === 'goal') round(e.round).goal += e.delta;
    else if (e.type === 'sites') round(e.round).sites.push(...e.sites.map((s) => s.url));
    else if (e.type === 'learning') round(e.round).learning += e.delta;
    else if (e.type === 'round-end') round(e.round).ends++;
    else if (e.type === 'answer') answer += e.delta;
    else if (e.type === 'references') references.push(...e.references.map((r) => r.url));
  }
  return { phases, plan, rounds: Object.fromEntries(rounds), answer, references, done: events.at(-1)?.type === 'done' };
}

/** A WebResearch frame as the snapshot model sends it. */
function snap(status: string, deepResearch: Record<string, unknown>, content = '', outputTokens = 1): Frame {
  return {
    output: { message: { phase: 'WebResearch', role: 'assistant', content, extra: { deep_research: deepResearch }, status }, fininshed: false, fininshed_reason: 'null' },
    usage: { input_tokens: 694, output_tokens: outputTokens },
    request_id: 'r-snapshot',
  };
}

function frame(phase: string, status: string, content = ''): Frame {
  return { output: { message: { phase, role: 'assistant', content, extra: { deep_research: {} }, status } }, request_id: 'r-snapshot' };
}

describe('QwenMapper on qwen-deep-research-2025-12-15 (streamingThinking) frames', () => {
  it('gives the same rounds, queries, goals, sites, summaries, round ends and report as the mainline frames', () => {
    const script = defaultScript();
    const mainline = summary(mapAll(researchFrames(script)));
    const snapshot = summary(mapAll(snapshotResearchFrames(script)));
    expect(snapshot).toEqual(mainline);
    expect(snapshot.phases).toEqual(['planning', 'searching', 'writing']);
    expect(snapshot.rounds[1]).toEqual({
      query: 'search query for round 1',
      goal: 'Understand aspect 1 of the topic in depth',
      sites: Array.from({ length: 4 }, (_, i) => `https://site-1-${i + 1}.example.com/article`),
      learning: 'Learning from round 1.',
      ends: 1,
    });
    expect(Object.keys(snapshot.rounds)).toEqual(['1', '2', '3']);
    expect(snapshot.references).toEqual(script.references.map((r) => r.url));
    expect(snapshot.done).toBe(true);
  });

  it('reads the research object under `query`, as the documented sample frame has it', () => {
    const script = defaultScript({ snapshotContainer: 'query' });
    expect(summary(mapAll(snapshotResearchFrames(script)))).toEqual(summary(mapAll(researchFrames(script))));
    // The documented sample frame itself.
    const events = new QwenMapper().map(snap('streamingThinking', { query: { researchGoal: '通过查找相关资料...', query: '人工智能 教育 应用', id: 1 } }));
    expect(events).toEqual([
      { type: 'phase', phase: 'searching' },
      { type: 'round', round: 1 },
      { type: 'query', round: 1, delta: '人工智能 教育 应用' },
      { type: 'goal', round: 1, delta: '通过查找相关资料...' },
      { type: 'usage', usage: { inputTokens: 694, outputTokens: 1 } },
    ]);
  });

  it('shows thinking text as its round\'s goal until a researchGoal comes, and as plan text before the first round', () => {
    const m = new QwenMapper();
    const events = [
      frame('ResearchPlanning', 'typing', 'The plan.'),
      snap('streamingThinking', {}, 'Breaking the topic down.'),
      snap('streamingThinking', { research: { id: 1 } }, 'Round 1 needs '),
      snap('streamingThinking', { research: { id: 1 } }, 'sources on X.'),
      snap('streamingThinking', { research: { id: 1, researchGoal: 'Understand X', query: '' } }),
      // Thinking after the documented goal arrived is not shown as goal any more.
      snap('streamingThinking', { research: { id: 1 } }, 'more thinking'),
      snap('streamingThinking', { research: { id: 1, query: 'X sources' } }),
      // Thinking without a round id belongs to the latest round.
      snap('streamingThinking', { research: { id: 2, query: 'Y' } }),
      snap('streamingThinking', {}, 'Now Y.'),
    ].flatMap((f) => m.map(f).filter((e) => e.type !== 'usage'));
    expect(events).toEqual([
      { type: 'phase', phase: 'planning' },
      { type: 'plan', delta: 'The plan.' },
      { type: 'phase', phase: 'searching' },
      { type: 'plan', delta: '\n\nBreaking the topic down.' },
      { type: 'round', round: 1 },
      { type: 'goal', round: 1, delta: 'Round 1 needs ' },
      { type: 'goal', round: 1, delta: 'sources on X.' },
      { type: 'goal', round: 1, delta: '\nUnderstand X' },
      { type: 'query', round: 1, delta: 'X sources' },
      { type: 'round', round: 2 },
      { type: 'query', round: 2, delta: 'Y' },
      { type: 'goal', round: 2, delta: 'Now Y.' },
    ]);
  });

  it('the fake\'s thinking text reaches each round\'s goal ahead of its researchGoal', () => {
    const s = summary(mapAll(snapshotResearchFrames(defaultScript({ snapshotThinkingText: true }))));
    expect(s.rounds[2]!.goal).toBe('Thinking: round 2 should look at aspect 2 next.\nUnderstand aspect 2 of the topic in depth');
    expect(s.rounds[2]!.query).toBe('search query for round 2');
  });

  it('closes snapshot rounds left open when WebResearch ends, and ends each round once', () => {
    const m = new QwenMapper();
    const ends = (f: Frame) => m.map(f).filter((e) => e.type === 'round-end');
    expect(ends(snap('streamingThinking', { research: { id: 1, query: 'a' } }))).toEqual([]);
    expect(ends(snap('WebResultFinished', { research: { id: 1 } }))).toEqual([{ type: 'round-end', round: 1 }]);
    expect(ends(snap('WebResultFinished', { research: { id: 1 } }))).toEqual([]);
    expect(ends(snap('streamingThinking', { research: { id: 2, query: 'b' } }))).toEqual([]);
    expect(ends(snap('streamingThinking', { research: { id: 3, query: 'c' } }))).toEqual([]);
    expect(ends(snap('finished', {}))).toEqual([
      { type: 'round-end', round: 2 },
      { type: 'round-end', round: 3 },
    ]);
    // Without a `finished` frame, moving on to the answer closes them (before the phase event).
    const n = new QwenMapper();
    n.map(snap('streamingThinking', { research: { id: 1, query: 'a' } }));
    expect(n.map(frame('answer', 'typing', '#'))).toEqual([
      { type: 'round-end', round: 1 },
      { type: 'phase', phase: 'writing' },
      { type: 'answer', delta: '#' },
    ]);
  });

  it('leaves the mainline mapping as it was: no inferred round ends, every WebResultFinished passed on', () => {
    const m = new QwenMapper();
    const ends = (f: Frame) => m.map(f).filter((e) => e.type === 'round-end');
    ends(snap('streamingQueries', { research: { id: 1, query: 'a' } }));
    expect(ends(snap('WebResultFinished', { research: { id: 1 } }))).toHaveLength(1);
    expect(ends(snap('WebResultFinished', { research: { id: 1 } }))).toHaveLength(1);
    ends(snap('streamingQueries', { research: { id: 2, query: 'b' } }));
    expect(ends(snap('finished', {}))).toEqual([]);
    // Content of a mainline WebResearch frame is not shown.
    expect(new QwenMapper().map(snap('streamingQueries', { research: { id: 1 } }, 'text')).filter((e) => e.type === 'goal' || e.type === 'plan')).toEqual([]);
  });
});

describe('RESEARCH_MODEL=qwen-deep-research-2025-12-15 end to end', () => {
  let fake: FakeDashScope;
  beforeEach(async () => {
    fake = await new FakeDashScope().start();
  });
  afterEach(() => fake.close());

  it('through the engine: the progress shows every round with its query, goal and sources, and the report arrives', async () => {
    const backend = createQwenBackend({ baseUrl: fake.url, apiKey: 'sk-test', model: SNAPSHOT_MODEL, idleTimeoutMs: 5000, retries: 1, retryBaseMs: 5 });
    const { engine, platform } = makeEngine(fake, { backend, rules: { clarify: false } });
    await engine.handle(mention('snap1', 'AI in education'));
    await expect.poll(() => platform.progress('snap1')?.state).toBe('done');
    expect(fake.requests[0]!.body.model).toBe(SNAPSHOT_MODEL);

    const views = platform.inThread('snap1').find((m) => m.views[0]!.kind === 'progress')!.views;
    const searching = views.filter((v) => v.kind === 'progress' && v.progress?.phase === 'searching');
    expect(searching.length).toBeGreaterThan(0);
    const last = views.at(-1)!;
    expect(last).toMatchObject({ state: 'done', progress: { sources: 12 } });
    const rounds = last.kind === 'progress' ? last.progress!.rounds : [];
    expect(rounds.map((r) => r.query)).toEqual(['search query for round 1', 'search query for round 2', 'search query for round 3']);
    expect(rounds.map((r) => r.goal)).toEqual([1, 2, 3].map((n) => `Understand aspect ${n} of the topic in depth`));
    expect(rounds.map((r) => [r.sites, r.finished])).toEqual([
      [4, true],
      [4, true],
      [4, true],
    ]);
    const { report } = platform.reports[0]!;
    for (const r of fake.script.references) expect(report.markdown).toContain(r.url);
  });

  it('npm run research with RESEARCH_MODEL set prints each round, the latest query and the sources found', async () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const cwd = mkdtempSync(join(tmpdir(), 'drb-snap-'));
    const env = { PATH: process.env.PATH ?? '', DASHSCOPE_API_KEY: 'sk-test', DASHSCOPE_BASE_URL: fake.url, RESEARCH_MODEL: SNAPSHOT_MODEL };
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(join(root, 'node_modules/.bin/tsx'), [join(root, 'src/cli.ts'), '--no-clarify', 'AI in education'], { cwd, env });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stdin.end();
      child.on('close', (code) => resolve({ code, out }));
    });
    expect(code).toBe(0);
    expect(fake.requests[0]!.body.model).toBe(SNAPSHOT_MODEL);
    // Piped output prints a line per change, throttled to one a second beside milestones: every round shows, and the
    // query of the last one (the engine test above checks every round's query).
    for (const n of [1, 2, 3]) expect(out).toContain(`Round ${n}: `);
    expect(out).toMatch(/Round 3: search query for round 3 \| 12 sources/);
  }, 30_000);
});
