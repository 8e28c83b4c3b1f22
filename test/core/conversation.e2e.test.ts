import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeDashScope } from '../fakes/dashscope.js';
import { action, makeEngine, mention, reply } from './harness.js';

let fake: FakeDashScope;
beforeEach(async () => {
  fake = await new FakeDashScope().start();
});
afterEach(() => fake.close());

describe('a whole conversation through the engine', () => {
  it('mention → question → reply → research with [topic, question, answer] → progress → report', async () => {
    const { engine, platform, store } = makeEngine(fake);
    await engine.handle(mention('t1', 'AI in education'));
    await expect.poll(() => platform.clarify('t1')?.open).toBe(true);
    expect(platform.inThread('t1')[0]!.views[0]).toMatchObject({ kind: 'clarify', question: undefined });
    expect(platform.clarify('t1')?.question).toBe(fake.question);
    expect(fake.requests[0]!.body.input?.messages).toEqual([{ role: 'user', content: 'AI in education' }]);

    await engine.handle(reply('t1', 'Personalised learning'));
    await expect.poll(() => platform.progress('t1')?.state).toBe('done');
    expect(fake.requests[1]!.body.input?.messages).toEqual([
      { role: 'user', content: 'AI in education' },
      { role: 'assistant', content: fake.question },
      { role: 'user', content: 'Personalised learning' },
    ]);
    const progressViews = platform.inThread('t1').find((m) => m.views[0]!.kind === 'progress')!.views;
    const phases = new Set(progressViews.map((v) => (v.kind === 'progress' ? v.progress?.phase : undefined)));
    expect([...phases]).toEqual(expect.arrayContaining(['planning', 'searching', 'writing']));
    const last = progressViews.at(-1)!;
    expect(last).toMatchObject({ state: 'done', progress: { sources: 12 } });
    expect(last.kind === 'progress' && last.progress?.rounds.map((r) => r.query)).toEqual([
      'search query for round 1',
      'search query for round 2',
      'search query for round 3',
    ]);
    expect(platform.clarify('t1')).toMatchObject({ open: false, answer: 'Personalised learning' });
    const { report } = platform.reports[0]!;
    expect(report.markdown).toContain('[\\[1\\]](https://example.org/source-1');
    for (const r of fake.script.references) expect(report.markdown).toContain(r.url);
    expect((await store.get('t1'))?.state).toBe('done');
  });

  it('"Start research now" answers with a standard answer', async () => {
    const { engine, platform } = makeEngine(fake);
    await engine.handle(mention('t2', '固态电池的最新进展'));
    await expect.poll(() => platform.clarify('t2')?.open).toBe(true);
    await engine.handle(action('t2', 'start-now'));
    await expect.poll(() => platform.reports.length).toBe(1);
    expect(fake.requests[1]!.body.input?.messages?.[2]?.content).toContain('不需要再确认');
    expect(platform.reports[0]!.lang).toBe('zh');
  });

  it('cancel mid-run closes the stream and says so', async () => {
    fake.frameDelayMs = 3;
    const { engine, platform, store } = makeEngine(fake, { rules: { clarify: false } });
    await engine.handle(mention('t3', 'topic'));
    await expect.poll(() => platform.progress('t3')?.progress?.phase).toBe('searching');
    await engine.handle(reply('t3', 'cancel'));
    await expect.poll(() => fake.clientAborts).toBe(1);
    expect(platform.progress('t3')?.state).toBe('cancelled');
    expect((await store.get('t3'))?.state).toBe('cancelled');
    expect(platform.reports).toHaveLength(0);
  });

  it('a failed run says why, offers Retry, and the retry finishes', async () => {
    const { engine, platform } = makeEngine(fake, { rules: { clarify: false } });
    fake.enqueue({ kind: 'error-frame', afterFrames: 20, status: 503, code: 'ModelUnavailable', message: 'Model is unavailable' });
    await engine.handle(mention('t4', 'topic'));
    await expect.poll(() => platform.progress('t4')?.state).toBe('failed');
    expect(platform.progress('t4')?.failure).toEqual({ code: 'unavailable', detail: 'ModelUnavailable', retryable: true });
    await engine.handle(action('t4', 'retry'));
    await expect.poll(() => platform.progress('t4')?.state).toBe('done');
    expect(platform.reports).toHaveLength(1);
    expect(fake.requests).toHaveLength(2);
  });

  it('a duplicate delivery of the same event has no effect', async () => {
    const { engine, platform } = makeEngine(fake);
    const m = mention('t5', 'topic');
    await Promise.all([engine.handle(m), engine.handle(m)]);
    await engine.handle(m);
    await expect.poll(() => platform.clarify('t5')?.open).toBe(true);
    expect(fake.requests).toHaveLength(1);
    expect(platform.inThread('t5')).toHaveLength(1);
  });

  it('only the requester answers; others get one notice', async () => {
    const { engine, platform } = makeEngine(fake);
    await engine.handle(mention('t6', 'topic', 'U1'));
    await expect.poll(() => platform.clarify('t6')?.open).toBe(true);
    await engine.handle(reply('t6', 'my view', 'U2'));
    await engine.handle(reply('t6', 'my view again', 'U2'));
    expect(platform.notices('t6')).toHaveLength(1);
    expect(platform.notices('t6')[0]).toMatch(/Only the person who asked/);
    expect(fake.requests).toHaveLength(1);
    expect(platform.clarify('t6')?.open).toBe(true);
  });

  it('ignores a reply in a thread the bot never started', async () => {
    const { engine, platform } = makeEngine(fake);
    await engine.handle(reply('elsewhere', 'hello'));
    await engine.handle(action('elsewhere', 'start-now'));
    expect(platform.messages).toHaveLength(0);
    expect(fake.requests).toHaveLength(0);
  });

  it('replies during the research get one "still working" notice', async () => {
    fake.frameDelayMs = 2;
    const { engine, platform } = makeEngine(fake, { rules: { clarify: false } });
    await engine.handle(mention('t7', 'topic'));
    await expect.poll(() => platform.progress('t7')?.state).toBe('researching');
    await engine.handle(reply('t7', 'how is it going?'));
    await engine.handle(reply('t7', 'hello?'));
    expect(platform.notices('t7')).toHaveLength(1);
    await expect.poll(() => platform.progress('t7')?.state, { timeout: 15_000 }).toBe('done');
  });

  it('a bare mention gets help, and a new mention in a finished thread is a question about its report, not a new research', async () => {
    const { engine, platform } = makeEngine(fake, { rules: { clarify: false } });
    await engine.handle(mention('t8', '   '));
    expect(platform.notices('t8')[0]).toMatch(/Mention me with a topic/);
    await engine.handle(mention('t8', 'first topic'));
    await expect.poll(() => platform.reports.length).toBe(1);
    await engine.handle(mention('t8', 'second topic'));
    // This engine has no follow-up model: the person is told, and nothing is billed.
    await expect.poll(() => platform.notices('t8').at(-1)).toMatch(/Follow-up questions are not set up/);
    expect(platform.reports).toHaveLength(1);
    expect(fake.requests.map((r) => r.body.input?.messages?.[0]?.content)).toEqual(['first topic']);
  });
});

describe('limits', () => {
  it('allows one run at a time per user and caps runs per day', async () => {
    fake.pause();
    const { engine, platform } = makeEngine(fake, { rules: { clarify: false }, limits: { dailyPerUser: 1 } });
    await engine.handle(mention('a', 'one'));
    await engine.handle(mention('b', 'two'));
    expect(platform.notices('b')[0]).toMatch(/already have 1 research request under way/);
    fake.resume();
    await expect.poll(() => platform.reports.length).toBe(1);
    await engine.handle(mention('c', 'three'));
    expect(platform.notices('c')[0]).toMatch(/today's limit of 1/);
    expect(fake.requests).toHaveLength(1);
  });

  it('answers users and channels outside the allow-lists with a notice', async () => {
    const { engine, platform } = makeEngine(fake, { limits: { allowedChannels: ['C9'], allowedUsers: ['U1'] } });
    await engine.handle(mention('x', 'topic', 'U1', 'C1'));
    expect(platform.notices('x')[0]).toMatch(/ALLOWED_CHANNELS/);
    await engine.handle(mention('y', 'topic', 'U2', 'C9'));
    expect(platform.notices('y')[0]).toMatch(/ALLOWED_USERS/);
    expect(fake.requests).toHaveLength(0);
  });
});

describe('the research queue', () => {
  it('with MAX_CONCURRENT_RESEARCH=2 and 5 requests: at most 2 streams, positions shown, all finish', async () => {
    fake.frameDelayMs = 1;
    const { engine, platform } = makeEngine(fake, { rules: { clarify: false }, limits: { maxConcurrent: 2 } });
    for (let i = 1; i <= 5; i++) await engine.handle(mention(`q${i}`, `topic ${i}`, `U${i}`));
    await expect.poll(() => platform.reports.length, { timeout: 30_000 }).toBe(5);
    expect(fake.maxOpen).toBe(2);
    const positions = platform.messages.flatMap((m) => m.views).flatMap((v) => (v.kind === 'progress' && v.position ? [v.position] : []));
    expect(new Set(positions)).toEqual(new Set([1, 2, 3]));
    for (let i = 1; i <= 5; i++) expect(platform.progress(`q${i}`)?.state).toBe('done');
  });
});
