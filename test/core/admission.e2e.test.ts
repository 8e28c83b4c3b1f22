import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ResearchBackend } from '../../src/core/ports/research.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { RecordingPlatform } from '../fakes/recording-platform.js';
import { makeEngine, mention, reply } from './harness.js';

let fake: FakeDashScope;
beforeEach(async () => {
  fake = await new FakeDashScope().start();
});
afterEach(() => fake.close());

const topics = () => fake.requests.map((r) => r.body.input?.messages?.[0]?.content);

describe('caps count a request from the moment it is accepted', () => {
  it('a flood of 50 mentions by one person makes one DashScope request; the rest are refused with a few notices', async () => {
    let refused = 0;
    const { engine, platform } = makeEngine(fake, { telemetry: { requestRefused: () => refused++ } });
    await Promise.all(Array.from({ length: 50 }, (_, i) => engine.handle(mention(`f${i}`, `topic ${i}`))));
    expect(refused).toBe(49);
    await expect.poll(() => platform.messages.some((m) => m.views.some((v) => v.kind === 'clarify' && v.question))).toBe(true);
    expect(fake.requests).toHaveLength(1);
    const notices = platform.messages.flatMap((m) => m.views).filter((v) => v.kind === 'notice');
    expect(notices.length).toBe(3);
    for (const n of notices) expect(n.kind === 'notice' && n.text).toMatch(/already have 1 research request under way/);
  });

  it('the daily cap holds under a race: six requests at once with a limit of 2 start two (step 1 counted)', async () => {
    const { engine, platform, store } = makeEngine(fake, { limits: { perUser: 10, dailyPerUser: 2 } });
    await Promise.all(Array.from({ length: 6 }, (_, i) => engine.handle(mention(`d${i}`, `topic ${i}`))));
    const accepted = (await Promise.all(Array.from({ length: 6 }, (_, i) => store.get(`d${i}`)))).filter(Boolean);
    expect(accepted).toHaveLength(2);
    for (const s of accepted) await expect.poll(() => platform.clarify(s!.key)?.open).toBe(true);
    // Answering the question of an accepted request does not count again.
    await Promise.all(accepted.map((s) => engine.handle(reply(s!.key, 'go'))));
    await expect.poll(() => platform.reports.length).toBe(2);
    expect(fake.requests).toHaveLength(4);
    expect(platform.messages.flatMap((m) => m.views).filter((v) => v.kind === 'notice' && /today's limit of 2/.test(v.text))).toHaveLength(3);
  });

  it('answers to several open questions at once start only as many runs as the per-person cap allows', async () => {
    const { engine, platform } = makeEngine(fake, { limits: { perUser: 1 } });
    for (const t of ['q1', 'q2', 'q3']) {
      await engine.handle(mention(t, `topic ${t}`));
      await expect.poll(() => platform.clarify(t)?.open).toBe(true);
    }
    fake.pause();
    await Promise.all(['q1', 'q2', 'q3'].map((t) => engine.handle(reply(t, 'answer'))));
    await expect.poll(() => fake.requests.length).toBe(4);
    const refusedIn = ['q1', 'q2', 'q3'].filter((t) => platform.notices(t).some((n) => /already have 1/.test(n)));
    expect(refusedIn).toHaveLength(2);
    // A refused answer leaves its question open: the person can answer again later.
    for (const t of refusedIn) expect(platform.clarify(t)?.open).toBe(true);
    fake.resume();
    await expect.poll(() => platform.reports.length).toBe(1);
  });

  it("one person's requests do not starve another's in the shared queue", async () => {
    fake.pause();
    const { engine, platform } = makeEngine(fake, { rules: { clarify: false }, limits: { maxConcurrent: 1, perUser: 10 } });
    for (let i = 1; i <= 4; i++) await engine.handle(mention(`a${i}`, `A ${i}`, 'UA'));
    await engine.handle(mention('b1', 'B 1', 'UB'));
    expect(platform.progress('b1')?.position).toBe(1);
    fake.resume();
    await expect.poll(() => platform.reports.length, { timeout: 15_000 }).toBe(5);
    expect(topics()).toEqual(['A 1', 'B 1', 'A 2', 'A 3', 'A 4']);
  });
});

/** Counts the platform's downloads of attached files. */
function countDownloads(platform: RecordingPlatform): { count: number } {
  const counter = { count: 0 };
  platform.download = async () => {
    counter.count++;
    return new Uint8Array();
  };
  return counter;
}

describe('what a request carries is bounded', () => {
  it('a topic over 4,000 characters is cut at a whole character and the person is told', async () => {
    const { engine, platform } = makeEngine(fake, { rules: { clarify: false } });
    const topic = `${'a'.repeat(3999)}😀${'b'.repeat(2000)}`;
    await engine.handle(mention('long', topic));
    await expect.poll(() => fake.requests.length).toBe(1);
    expect(topics()[0]).toBe(`${'a'.repeat(3999)}😀`);
    expect(platform.notices('long')[0]).toMatch(/longer than 4,000 characters/);
  });

  it('a backend that reads no files downloads none and says the files are not used', async () => {
    const platform = new RecordingPlatform();
    const downloads = countDownloads(platform);
    const { engine } = makeEngine(fake, { platform, rules: { clarify: false } });
    await engine.handle(mention('nf', 'topic', 'U1', 'C1', [{ id: 'F1', name: 'chart.png', size: 1 << 30, url: 'https://files.slack.com/x' }]));
    await expect.poll(() => platform.reports.length).toBe(1);
    expect(downloads.count).toBe(0);
    expect(platform.notices('nf')[0]).toMatch(/reads only your text.*chart\.png/);
  });

  it('a file over the backend cap is refused by its declared size before anything is downloaded or billed', async () => {
    const platform = new RecordingPlatform();
    const downloads = countDownloads(platform);
    const runs: unknown[] = [];
    const backend: ResearchBackend = {
      name: 'files',
      files: { maxFiles: 10, maxBytes: 100 * 1024 * 1024 },
      async *run(req) {
        runs.push(req);
        yield { type: 'done' };
      },
    };
    const { engine, store } = makeEngine(fake, { platform, backend });
    await engine.handle(mention('big', 'summarise this', 'U1', 'C1', [{ id: 'F1', name: 'huge.pdf', size: 1 << 30, url: 'https://files.slack.com/x' }]));
    expect(platform.notices('big')[0]).toMatch(/huge\.pdf is 1\.0 GB; an attached file can be at most 100 MB/);
    expect(await store.get('big')).toBeUndefined();
    expect(downloads.count).toBe(0);
    expect(runs).toHaveLength(0);
  });
});

describe('card callbacks and unreadable messages', () => {
  it('a callback that names only its message finds the thread through the store', async () => {
    const { engine, platform } = makeEngine(fake);
    await engine.handle(mention('cb', 'topic'));
    await expect.poll(() => platform.clarify('cb')?.open).toBe(true);
    const questionId = platform.inThread('cb')[0]!.id;
    await engine.handle({ platform: 'test', kind: 'action', action: 'answer', text: 'from the form', thread: '', messageId: questionId, eventId: 'form1', user: 'U1', channel: 'C1' });
    await expect.poll(() => platform.reports.length).toBe(1);
    expect(fake.requests[1]!.body.input?.messages?.[2]?.content).toBe('from the form');
  });

  it("the platform's Stop cancels like Cancel; a person's last feedback click is kept", async () => {
    fake.pause();
    const { engine, platform, store } = makeEngine(fake, { rules: { clarify: false } });
    await engine.handle(mention('st', 'topic'));
    await expect.poll(() => fake.open).toBe(1);
    await engine.handle({ platform: 'test', kind: 'stopped', thread: 'st', eventId: 'stop1', user: '', channel: 'C1' });
    await expect.poll(() => fake.clientAborts).toBe(1);
    expect(platform.progress('st')?.state).toBe('cancelled');
    for (const [id, user, value] of [['f1', 'U1', 'good'], ['f2', 'U2', 'bad'], ['f3', 'U1', 'bad']] as const) {
      await engine.handle({ platform: 'test', kind: 'feedback', value, thread: 'st', eventId: id, user, channel: 'C1' });
    }
    expect(await store.countFeedback()).toEqual({ good: 0, bad: 2 });
  });

  it('a message the bot cannot read gets one short answer, once per message', async () => {
    const { engine, platform } = makeEngine(fake);
    const image = { platform: 'test', kind: 'unsupported' as const, what: 'image', thread: 'img', eventId: 'om_img', user: 'U1', channel: 'C1' };
    await engine.handle(image);
    await engine.handle(image);
    expect(platform.notices('img')).toHaveLength(1);
    expect(platform.notices('img')[0]).toMatch(/I can read text and rich-text messages/);
    expect(fake.requests).toHaveLength(0);
  });
});
