import { afterEach, describe, expect, it } from 'vitest';
import type { FakeDashScope } from '../fakes/dashscope.js';
import { sampleReport } from '../fakes/dashscope-script.js';
import type { FakeSlack } from '../fakes/slack.js';
import { mentionEvent, nextTs, replyEvent } from '../slack/harness.js';
import { processWorld, type ProcessWorld } from './bot-process.js';

let w: ProcessWorld | undefined;
let ds: FakeDashScope;
let slack: FakeSlack;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

async function world(report?: string) {
  w = await processWorld({}, report ? { script: { report } } : {});
  ({ ds, slack } = w);
  return w.boot;
}

const thread = (ts: string) => slack.thread('C1', ts);

describe('SIGKILL while a post is in flight, then a restart over the same store', () => {
  it('the question: posted by Slack but unrecorded is adopted, so it is visible exactly once', async () => {
    const boot = await world();
    let bot = await boot();
    const ts = nextTs();
    slack.stallAfter = (method) => method === 'chat.postMessage';
    await slack.sendEvent(bot.endpoint, mentionEvent('topic', { ts }));
    await expect.poll(() => slack.stalled.length).toBe(1);
    await bot.kill();
    slack.stallAfter = undefined;
    expect(ds.requests).toHaveLength(0);

    bot = await boot();
    await expect.poll(() => thread(ts).some((m) => m.text.includes(ds.question.slice(0, 30))), { timeout: 15_000 }).toBe(true);
    expect(thread(ts)).toHaveLength(1);
    expect(ds.requests).toHaveLength(1);
    // The adopted message is the thread's question: the answer goes on from it.
    await slack.sendEvent(bot.endpoint, replyEvent('go', ts));
    await expect.poll(() => slack.files.length, { timeout: 20_000 }).toBe(1);
  }, 60_000);

  it('the third report part: after the restart every part appears exactly once and nothing is researched again', async () => {
    const boot = await world(sampleReport(60, 3));
    let bot = await boot();
    const ts = nextTs();
    await slack.sendEvent(bot.endpoint, mentionEvent('topic', { ts }));
    await expect.poll(() => thread(ts).some((m) => m.text.includes(ds.question.slice(0, 30))), { timeout: 15_000 }).toBe(true);
    slack.stallAfter = (method, args) => method === 'chat.postMessage' && /\(3\/\d\)/.test(String(args.text));
    await slack.sendEvent(bot.endpoint, replyEvent('go', ts));
    await expect.poll(() => slack.stalled.length, { timeout: 20_000 }).toBe(1);
    await bot.kill();
    slack.stallAfter = undefined;
    const parts = /\((\d)\/(\d)\)/.exec(String(slack.stalled[0]!.args.text))!;
    const total = Number(parts[2]);
    expect(total).toBeGreaterThanOrEqual(3);

    bot = await boot();
    await expect.poll(() => slack.files.length, { timeout: 20_000 }).toBe(1);
    await expect.poll(() => thread(ts).some((m) => /Research finished/.test(m.text))).toBe(true);
    for (let i = 1; i <= total; i++) expect(thread(ts).filter((m) => m.text.includes(`(${i}/${total})`)), `part ${i}`).toHaveLength(1);
    expect(thread(ts).filter((m) => m.blocks.some((b) => String(b.text).startsWith('## References')))).toHaveLength(1);
    expect(ds.requests).toHaveLength(2);
  }, 60_000);
});
