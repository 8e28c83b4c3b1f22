import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeDashScope } from '../fakes/dashscope.js';
import { RecordingPlatform } from '../fakes/recording-platform.js';
import { action, makeEngine, mention, reply, tempDbPath } from './harness.js';

const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);

let fake: FakeDashScope;
beforeEach(async () => {
  fake = await new FakeDashScope().start();
});
afterEach(() => fake.close());

/** A thread whose research is done and whose report is delivered. */
async function finished(engine: ReturnType<typeof makeEngine>['engine'], platform: RecordingPlatform, thread: string) {
  await engine.handle(mention(thread, 'adaptive learning'));
  await expect.poll(() => platform.reports.filter((r) => r.thread === thread).length, { timeout: 15_000 }).toBe(1);
  await expect.poll(() => platform.progress(thread)?.state).toBe('done');
}

const textOf = (content: unknown) => (typeof content === 'string' ? content : JSON.stringify(content));

describe('follow-up questions through the engine', () => {
  it('answers from the report with its sources linked, costed, by anyone, and later questions see earlier answers', async () => {
    const { engine, platform } = makeEngine(fake, { rules: { clarify: false }, followup: {} });
    await finished(engine, platform, 'f1');
    const research = fake.requests.length;
    const report = platform.reports[0]!.report;
    expect(platform.progress('f1')?.further).toBe(true);

    await engine.handle(reply('f1', 'What do the studies say about outcomes?', 'U2'));
    await expect.poll(() => platform.followups('f1')[0]?.state).toBe('done');
    const first = platform.followups('f1')[0]!;
    expect(first).toMatchObject({ asker: 'U2', question: 'What do the studies say about outcomes?' });
    const link = report.references.find((r) => r.index === 1)!.url;
    expect(first.text).toContain(`[\\[1\\]](${link}`);
    expect(first.footer).toMatch(/^Answered from the report by qwen-plus · [\d,]+ tokens · estimated cost <?¥0\.\d\d$/);
    expect(fake.chat.requests).toHaveLength(1);
    const sent = fake.chat.requests[0]!.body.input!.messages!;
    expect(sent[0]!.role).toBe('system');
    expect(textOf(sent[0]!.content)).toContain(report.title);
    expect(sent.at(-1)).toEqual({ role: 'user', content: 'What do the studies say about outcomes?' });

    fake.chat.enqueue({ answer: 'The report does not cover pricing.' });
    await engine.handle(mention('f1', 'And pricing?', 'U3'));
    await engine.handle(reply('f1', 'Which source is the strongest?', 'U1'));
    await expect.poll(() => platform.followups('f1').map((v) => v.state)).toEqual(['done', 'done', 'done']);
    expect(platform.followups('f1')[1]!.text).toBe('The report does not cover pricing.');
    // The third question saw both earlier questions and answers, in order; no research was run for any of them.
    const third = fake.chat.requests[2]!.body.input!.messages!.map((m) => textOf(m.content));
    expect(third.slice(1)).toEqual([
      'What do the studies say about outcomes?',
      expect.stringContaining('Adaptive tutors'),
      'And pricing?',
      'The report does not cover pricing.',
      'Which source is the strongest?',
    ]);
    expect(fake.requests).toHaveLength(research);
  });

  it('holds each person to FOLLOWUP_LIMIT_PER_HOUR with a notice, and says what happened when the model fails', async () => {
    const { engine, platform } = makeEngine(fake, { rules: { clarify: false }, followup: { limitPerHour: 2 } });
    await finished(engine, platform, 'f2');
    fake.chat.enqueue({ fault: { kind: 'http-error', status: 429, code: 'Throttling.RateQuota', message: 'Requests rate limit exceeded' } });
    await engine.handle(reply('f2', 'one?', 'U2'));
    await expect.poll(() => platform.followups('f2')[0]?.state).toBe('failed');
    expect(platform.followups('f2')[0]!.failure).toMatch(/throttling requests.*Ask again/);
    await engine.handle(reply('f2', 'two?', 'U2'));
    await expect.poll(() => platform.followups('f2')[1]?.state).toBe('done');
    await engine.handle(reply('f2', 'three?', 'U2'));
    await expect.poll(() => platform.notices('f2').at(-1)).toMatch(/asked 2 follow-up questions in the last hour/);
    expect(fake.chat.requests).toHaveLength(2);
    // Someone else still may ask.
    await engine.handle(reply('f2', 'four?', 'U3'));
    await expect.poll(() => fake.chat.requests.length).toBe(3);
  });

  it('a question the bot was answering when it stopped is answered again after the restart, and says so', async () => {
    const dbPath = tempDbPath();
    const first = makeEngine(fake, { dbPath, rules: { clarify: false }, followup: {} });
    await finished(first.engine, first.platform, 'f3');
    fake.chat.enqueue({ fault: { kind: 'stall', afterFrames: 1 } });
    await first.engine.handle(reply('f3', 'still there?', 'U2'));
    await expect.poll(() => fake.chat.requests.length).toBe(1);
    await expect.poll(() => first.platform.followups('f3')[0]?.state).toBe('thinking');
    await first.engine.stop();
    await first.store.close();

    const second = makeEngine(fake, { dbPath, rules: { clarify: false }, followup: {}, platform: first.platform });
    await second.engine.recover();
    await expect.poll(() => first.platform.followups('f3')[0]?.state).toBe('done');
    // The same message is finished (adopted by its tag), not a second one.
    expect(first.platform.followups('f3')).toHaveLength(1);
    expect(first.platform.followups('f3')[0]!.footer).toMatch(/answered again after a restart/);
    expect(fake.chat.requests).toHaveLength(2);
    await second.engine.stop();
  });
});

describe('Research further through the engine', () => {
  it('asks for a focus, researches it directly from the earlier summary, and links the earlier report', async () => {
    const { engine, platform } = makeEngine(fake, { rules: { clarify: false }, followup: {} });
    await finished(engine, platform, 'g1');
    const before = fake.requests.length;
    await engine.handle(action('g1', 'further', 'U2'));
    await expect.poll(() => platform.clarify('g1')?.question).toMatch(/What should the further research focus on/);
    expect(fake.requests).toHaveLength(before);
    await engine.handle(reply('g1', 'costs for schools', 'U2'));
    await expect.poll(() => platform.reports.filter((r) => r.thread === 'g1').length, { timeout: 15_000 }).toBe(2);
    expect(fake.requests).toHaveLength(before + 1);
    const request = fake.requests.at(-1)!.body;
    expect(request.parameters?.enable_feedback).toBe(false);
    expect(request.input!.messages).toHaveLength(1);
    const text = textOf(request.input!.messages![0]!.content);
    expect(text).toContain('costs for schools');
    expect(text).toContain('adaptive learning');
    const [earlier, later] = platform.reports.filter((r) => r.thread === 'g1');
    expect(later!.report.body).toContain(`[read it](https://chat.example/messages/${earlier!.id})`);
    // Follow-ups now answer from the new report.
    await engine.handle(reply('g1', 'summary?', 'U1'));
    await expect.poll(() => platform.followups('g1')[0]?.state).toBe('done');
    expect(textOf(fake.chat.requests.at(-1)!.body.input!.messages![0]!.content)).toContain(later!.report.title);
  });
});

describe('images in a request through the engine', () => {
  it('sends the attached images with the topic in step 1 and step 2, and names what was skipped', async () => {
    const platform = new RecordingPlatform();
    platform.attachments.set('i1', PNG);
    platform.attachments.set('i2', PNG);
    const { engine } = makeEngine(fake, { platform });
    const files = [
      { id: 'i1', name: 'chart.png', size: PNG.length, mime: 'image/png' },
      { id: 'i2', name: 'table.png', size: PNG.length, mime: 'image/png' },
      { id: 'i3', name: 'huge.png', size: 12 * 1024 * 1024, mime: 'image/png' },
    ];
    await engine.handle(mention('h1', 'what do these show?', 'U1', 'C1', files));
    await expect.poll(() => platform.clarify('h1')?.question).toBeTruthy();
    expect(platform.notices('h1')).toContain('Not sent to the research: huge.png (over 10 MB).');
    await engine.handle(reply('h1', 'the trend'));
    await expect.poll(() => platform.reports.length, { timeout: 15_000 }).toBe(1);
    const firstUser = fake.requests.map((r) => r.body.input!.messages![0]!.content);
    expect(firstUser).toHaveLength(2);
    for (const content of firstUser) {
      expect(Array.isArray(content)).toBe(true);
      const items = content as ({ image: string } | { text: string })[];
      expect(items.filter((i) => 'image' in i).map((i) => (i as { image: string }).image)).toEqual([
        `data:image/png;base64,${Buffer.from(PNG).toString('base64')}`,
        `data:image/png;base64,${Buffer.from(PNG).toString('base64')}`,
      ]);
      expect(items.at(-1)).toEqual({ text: 'what do these show?' });
    }
  });
});
