import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeDashScope } from '../fakes/dashscope.js';
import { RecordingPlatform } from '../fakes/recording-platform.js';
import { action, makeEngine, mention, reply, tempDbPath } from './harness.js';

let fake: FakeDashScope;
beforeEach(async () => {
  fake = await new FakeDashScope().start();
});
afterEach(() => fake.close());

/** Stops engine A where it is and starts engine B over the same SQLite file and the same chat. */
async function restart(a: ReturnType<typeof makeEngine>, dbPath: string) {
  await a.engine.stop();
  await a.store.close();
  const b = makeEngine(fake, { dbPath, platform: a.platform });
  await b.engine.recover();
  return b;
}

describe('restart recovery over the same SQLite file', () => {
  it('a graceful stop lets running research finish and post its report within the grace period', async () => {
    fake.frameDelayMs = 5;
    const a = makeEngine(fake, { rules: { clarify: false } });
    await a.engine.handle(mention('g1', 'topic'));
    await expect.poll(() => fake.open).toBe(1);
    await a.engine.stop(15_000);
    expect(fake.clientAborts).toBe(0);
    expect(a.platform.reports).toHaveLength(1);
    expect(a.platform.progress('g1')?.state).toBe('done');
    await a.store.close();
  });

  it('a thread awaiting its answer takes the reply after a restart', async () => {
    const dbPath = tempDbPath();
    const a = makeEngine(fake, { dbPath });
    await a.engine.handle(mention('r1', 'topic'));
    await expect.poll(() => a.platform.clarify('r1')?.open).toBe(true);
    const b = await restart(a, dbPath);
    expect(fake.requests).toHaveLength(1);
    await b.engine.handle(reply('r1', 'my answer'));
    await expect.poll(() => b.platform.progress('r1')?.state).toBe('done');
    expect(fake.requests[1]!.body.input?.messages?.[2]).toEqual({ role: 'user', content: 'my answer' });
    expect(b.platform.notices('r1')).toHaveLength(0);
  });

  it('an interrupted research is re-run once with a notice, then failed with Retry', async () => {
    const dbPath = tempDbPath();
    const a = makeEngine(fake, { dbPath, rules: { clarify: false } });
    fake.pause();
    await a.engine.handle(mention('r2', 'topic'));
    await expect.poll(() => fake.open).toBe(1);
    const b = await restart(a, dbPath);
    expect(b.platform.notices('r2')).toEqual(['The bot restarted; running your research again.']);
    await expect.poll(() => fake.requests.length).toBe(2);
    // Interrupted again: the configured two attempts are used up.
    const c = await restart(b, dbPath);
    expect(c.platform.progress('r2')).toMatchObject({ state: 'failed', failure: { code: 'interrupted', retryable: true } });
    expect(fake.requests).toHaveLength(2);
    fake.resume();
    await c.engine.handle(action('r2', 'retry'));
    await expect.poll(() => c.platform.progress('r2')?.state).toBe('done');
    expect(c.platform.reports).toHaveLength(1);
    expect(fake.requests).toHaveLength(3);
  });

  it('an interrupted clarifying step is re-run; a queued run that never started is re-queued quietly', async () => {
    const dbPath = tempDbPath();
    const a = makeEngine(fake, { dbPath, limits: { maxConcurrent: 1 } });
    fake.pause();
    await a.engine.handle(mention('r3', 'topic one', 'U1'));
    await expect.poll(() => fake.open).toBe(1);
    const b = await restart(a, dbPath);
    fake.resume();
    await expect.poll(() => b.platform.clarify('r3')?.open).toBe(true);
    expect(b.platform.notices('r3')).toHaveLength(1);
    expect(fake.requests).toHaveLength(2);
  });

  it('the restart notice is given only for runs that had started: a question still waiting for a slot just starts', async () => {
    const dbPath = tempDbPath();
    const a = makeEngine(fake, { dbPath, limits: { maxConcurrent: 1 } });
    fake.pause();
    await a.engine.handle(mention('s1', 'started topic', 'U1'));
    await a.engine.handle(mention('s2', 'waiting topic', 'U2'));
    await expect.poll(() => fake.open).toBe(1);
    const b = await restart(a, dbPath);
    fake.resume();
    await expect.poll(() => b.platform.clarify('s2')?.open, { timeout: 15_000 }).toBe(true);
    expect(b.platform.notices('s1')).toEqual(['The bot restarted; running your research again.']);
    expect(b.platform.notices('s2')).toEqual([]);
    expect(fake.requests.map((r) => r.body.input?.messages?.[0]?.content)).toEqual(['started topic', 'started topic', 'waiting topic']);
  });

  it('a finished answer stored before the restart is reported without running again', async () => {
    const dbPath = tempDbPath();
    const slow = new RecordingPlatform();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    slow.postReportPart = async function (this: RecordingPlatform, ...args: Parameters<RecordingPlatform['postReportPart']>) {
      await gate;
      return RecordingPlatform.prototype.postReportPart.apply(this, args);
    };
    const a = makeEngine(fake, { dbPath, rules: { clarify: false }, platform: slow });
    await a.engine.handle(mention('r4', 'topic'));
    await expect.poll(async () => (await a.store.get('r4'))?.result !== undefined).toBe(true);
    // Engine A dies while posting the report; B posts it from the stored answer.
    const b = makeEngine(fake, { dbPath, rules: { clarify: false } });
    await b.engine.recover();
    await expect.poll(() => b.platform.reports.length).toBe(1);
    expect(fake.requests).toHaveLength(1);
    expect((await b.store.get('r4'))?.state).toBe('done');
    release();
  });
});
