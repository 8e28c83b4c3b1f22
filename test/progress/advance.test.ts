import { describe, expect, it } from 'vitest';
import { advance, elapsedSeconds, isMilestone, startProgress, type Progress } from '../../src/core/progress.js';
import type { ResearchEvent, WebSite } from '../../src/core/ports/research.js';

const site = (n: number): WebSite => ({ url: `https://s${n}.example`, title: `t${n}`, description: '' });
const link = (n: number) => ({ url: `https://s${n}.example`, title: `t${n}` });

/** Deeply frozen, so that any mutation of an input throws. */
function frozen<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) frozen(x);
    Object.freeze(v);
  }
  return v;
}

/** Folds events into progress, one second apart, checking at each step that the input was left alone. */
function run(events: ResearchEvent[], from: Progress = startProgress(0)): Progress {
  return events.reduce((p, e, i) => {
    const before = JSON.stringify(p);
    const next = advance(frozen(p), e, (i + 1) * 1000);
    expect(JSON.stringify(p)).toBe(before);
    return next;
  }, from);
}

describe('advance: ResearchEvent → Progress', () => {
  it('starts with nothing done', () => {
    expect(startProgress(5)).toEqual({ phase: 'starting', plan: '', rounds: [], sources: 0, answerChars: 0, draft: '', references: [], startedAt: 5, now: 5 });
  });

  it('follows the phases and gathers the plan from its deltas', () => {
    const p = run([{ type: 'phase', phase: 'planning' }, { type: 'plan', delta: 'First ' }, { type: 'plan', delta: 'look.' }, { type: 'phase', phase: 'searching' }]);
    expect(p).toMatchObject({ phase: 'searching', plan: 'First look.', now: 4000 });
  });

  it('builds each round from its query, goal and sites, and counts the sources over all rounds', () => {
    const p = run([
      { type: 'round', round: 1 },
      { type: 'query', round: 1, delta: 'solid-state ' },
      { type: 'query', round: 1, delta: 'batteries' },
      { type: 'goal', round: 1, delta: 'costs' },
      { type: 'sites', round: 1, sites: [site(1), site(2)] },
      { type: 'sites', round: 1, sites: [site(3)] },
      { type: 'round-end', round: 1 },
      { type: 'round', round: 2 },
      { type: 'query', round: 2, delta: 'sodium-ion' },
      { type: 'sites', round: 2, sites: [site(4)] },
    ]);
    expect(p.rounds).toEqual([
      { round: 1, goal: 'costs', query: 'solid-state batteries', sites: 3, links: [1, 2, 3].map(link), finished: true },
      { round: 2, goal: '', query: 'sodium-ion', sites: 1, links: [link(4)], finished: false },
    ]);
    expect(p.sources).toBe(4);
  });

  it("starts a round at its first event when that comes before the round's own event, and updates only that round", () => {
    const p = run([
      { type: 'round', round: 1 },
      { type: 'query', round: 3, delta: 'early' },
      { type: 'goal', round: 1, delta: 'late goal' },
      { type: 'sites', round: 4, sites: [site(1)] },
      { type: 'round-end', round: 3 },
    ]);
    expect(p.rounds).toEqual([
      { round: 1, goal: 'late goal', query: '', sites: 0, links: [], finished: false },
      { round: 3, goal: '', query: 'early', sites: 0, links: [], finished: true },
      { round: 4, goal: '', query: '', sites: 1, links: [link(1)], finished: false },
    ]);
    expect(p.sources).toBe(1);
  });

  it('counts the answer in characters and keeps the latest usage; done keeps it unless it brings its own', () => {
    const usage = { inputTokens: 10, outputTokens: 20 };
    let p = run([{ type: 'phase', phase: 'writing' }, { type: 'answer', delta: 'Hello ' }, { type: 'answer', delta: 'world' }, { type: 'usage', usage }, { type: 'done' }]);
    expect(p).toMatchObject({ phase: 'writing', answerChars: 11, draft: 'Hello world', usage, now: 5000 });
    p = run([{ type: 'done', usage: { inputTokens: 1, outputTokens: 2 } }], p);
    expect(p.usage).toEqual({ inputTokens: 1, outputTokens: 2 });
  });

  it('events that show nothing only move the clock, and return the same object when the clock did not move', () => {
    const p = startProgress(0);
    const quiet: ResearchEvent[] = [{ type: 'keepalive' }, { type: 'learning', round: 1, key: 'k', delta: 'x' }, { type: 'files', files: [] }];
    for (const e of quiet) {
      expect(advance(frozen(p), e, 0)).toBe(p);
      expect(advance(p, e, 3000)).toEqual({ ...p, now: 3000 });
    }
  });

  it('keeps the sources the answer cites, as they arrive, and at most 10 sites per round to show', () => {
    const ref = { index: 1, url: 'https://a.example', title: 'a', description: '' };
    const p = run([{ type: 'references', references: [ref] }, { type: 'sites', round: 1, sites: Array.from({ length: 12 }, (_, i) => site(i + 1)) }]);
    expect(p.references).toEqual([ref]);
    expect(p.rounds[0]!.links).toHaveLength(10);
    expect(p.rounds[0]!.sites).toBe(12);
  });

  it('is pure: the same events give the same progress, and no input is changed', () => {
    const events: ResearchEvent[] = [
      { type: 'phase', phase: 'searching' },
      { type: 'round', round: 1 },
      { type: 'sites', round: 1, sites: [site(1)] },
      { type: 'answer', delta: 'x' },
    ];
    expect(run(events)).toEqual(run(events));
  });

  it('elapsed seconds and milestones', () => {
    const p = startProgress(1000);
    expect(elapsedSeconds({ ...p, now: 62_400 })).toBe(61);
    expect(elapsedSeconds({ ...p, now: 0 })).toBe(0);
    const searching = advance(p, { type: 'phase', phase: 'searching' }, 2000);
    expect(isMilestone(p, searching)).toBe(true);
    const round = advance(searching, { type: 'round', round: 1 }, 3000);
    expect(isMilestone(searching, round)).toBe(true);
    expect(isMilestone(round, advance(round, { type: 'query', round: 1, delta: 'q' }, 4000))).toBe(false);
    expect(isMilestone(round, advance(round, { type: 'answer', delta: 'a' }, 4000))).toBe(false);
  });
});
