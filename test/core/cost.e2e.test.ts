import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LIST_PRICES, utcMonth } from '../../src/core/cost.js';
import { defaultReferences } from '../fakes/dashscope-script.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { makeEngine, mention } from './harness.js';

let fake: FakeDashScope;
afterEach(() => fake.close());

const MODEL = 'qwen-deep-research';
const price = LIST_PRICES[MODEL]!;

describe('cost in yuan', () => {
  beforeEach(async () => {
    fake = await new FakeDashScope().start();
  });

  it("shows each run's tokens and estimated cost on the final progress and in the report's footer, and counts it", async () => {
    const counted: [string, number][] = [];
    const { engine, platform, store } = makeEngine(fake, { rules: { clarify: false }, budget: { model: MODEL, price }, telemetry: { costYuan: (m, y) => counted.push([m, y]) } });
    await engine.handle(mention('c1', 'topic'));
    await expect.poll(() => platform.progress('c1')?.state).toBe('done');
    const usage = platform.progress('c1')!.progress!.usage!;
    const yuan = (usage.inputTokens * 54 + usage.outputTokens * 163) / 1e6;
    expect(platform.progress('c1')?.cost).toBe(`¥${yuan.toFixed(2)}`);
    expect(platform.reports[0]!.report.referencesMarkdown).toContain(`estimated cost ¥${yuan.toFixed(2)}`);
    await expect.poll(() => counted).toEqual([[MODEL, yuan]]);
    expect(await store.spentIn(utcMonth(Date.now()))).toBeCloseTo(yuan, 10);
  });

  it('the monthly budget warns at 80 %, refuses at 100 % naming who can raise it, and a new month starts afresh', async () => {
    let now = Date.UTC(2026, 10, 20, 12);
    const { engine, platform, store } = makeEngine(fake, { rules: { clarify: false }, budget: { model: MODEL, price, monthlyYuan: 100 }, clock: () => now });
    await store.addSpend('2026-11', 80);
    await engine.handle(mention('b1', 'first'));
    expect(platform.notices('b1')).toEqual(["Heads-up: this month's research budget is 80% used (an estimated ¥80.00 of ¥100.00)."]);
    await expect.poll(() => platform.progress('b1')?.state).toBe('done');
    await store.addSpend('2026-11', 20);
    await engine.handle(mention('b2', 'second', 'U2'));
    expect(platform.notices('b2')[0]).toMatch(/budget \(¥100\.00, estimated\) is used up.*MONTHLY_BUDGET_YUAN/);
    expect(await store.get('b2')).toBeUndefined();
    expect(fake.requests).toHaveLength(1);
    now = Date.UTC(2026, 11, 1, 0, 0, 1);
    await engine.handle(mention('b3', 'third', 'U3'));
    await expect.poll(() => platform.progress('b3')?.state).toBe('done');
    expect(platform.notices('b3')).toEqual([]);
  });
});

describe('checked citations', () => {
  it('flags a cited source the research never visited, drops nothing, and says how the sources were checked', async () => {
    const ghost = { url: 'https://never-visited.example/claim', title: 'Ghost source' };
    // The research visits the first four references (its last round); the fifth it never opened.
    fake = await new FakeDashScope({ script: { references: [...defaultReferences(4), ghost], report: '# R\n\nA claim [[1]] and a ghost [[5]] and nothing [[9]].\n' } }).start();
    const { engine, platform } = makeEngine(fake, { rules: { clarify: false } });
    await engine.handle(mention('g1', 'topic'));
    await expect.poll(() => platform.reports.length).toBe(1);
    const { report } = platform.reports[0]!;
    expect(report.body).toContain('a ghost [\\[5\\]](https://never-visited.example/claim');
    expect(report.referencesMarkdown).toContain('5. [Ghost source](https://never-visited.example/claim) ⚠️ *not among the visited sources*');
    expect(report.referencesMarkdown).not.toMatch(/1\. \[Source 1\].*visited/);
    expect(report.referencesMarkdown).toMatch(/3 sources cited of 5 · checked against the \d+ pages the research visited: 1 not among them \(marked\) · 1 citation without a source/);
    expect(report.check).toMatchObject({ cited: 3, sources: 5, unknown: [9], unvisited: [5] });
  });
});
