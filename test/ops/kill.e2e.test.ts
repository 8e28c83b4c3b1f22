import { afterEach, describe, expect, it } from 'vitest';
import type { FakeDashScope } from '../fakes/dashscope.js';
import type { FakeSlack } from '../fakes/slack.js';
import { findButton, mentionEvent, nextTs, replyEvent, visible } from '../slack/harness.js';
import { ACTIONS } from '../../src/platforms/slack/blocks.js';
import { processWorld, type ProcessWorld } from './bot-process.js';

let w: ProcessWorld | undefined;
let ds: FakeDashScope;
let slack: FakeSlack;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

async function world(extra: Record<string, string> = {}) {
  w = await processWorld(extra);
  ({ ds, slack } = w);
  return { boot: w.boot };
}

const thread = (ts: string) => slack.thread('C1', ts);
const says = (ts: string, re: RegExp) => thread(ts).some((m) => re.test(visible(m)));
const researchRequests = () => ds.requests.filter((r) => (r.body.input?.messages?.length ?? 0) > 1 || r.body.parameters?.enable_feedback === false).length;

describe('SIGKILL in each conversation state, then a restart over the same store', () => {
  it('while preparing the question, while awaiting the answer, and while researching', async () => {
    const { boot } = await world();
    let bot = await boot();

    // 1. Killed while step 1 streams: the question is prepared again after the restart.
    const t1 = nextTs();
    ds.pause();
    await slack.sendEvent(bot.endpoint, mentionEvent('topic one', { ts: t1 }));
    await expect.poll(() => ds.open).toBe(1);
    await bot.kill();
    ds.resume();
    bot = await boot();
    await expect.poll(() => findButton(thread(t1), ACTIONS.startNow), { timeout: 15_000 }).toBeDefined();
    expect(says(t1, /restarted/)).toBe(true);

    // 2. Killed while waiting for the answer: the reply after the restart starts the research.
    await bot.kill();
    bot = await boot();
    await slack.sendEvent(bot.endpoint, replyEvent('my answer', t1));
    await expect.poll(() => slack.files.length, { timeout: 20_000 }).toBe(1);
    expect(researchRequests()).toBe(1);

    // 3. Killed while researching: re-run once, with a notice; the report arrives once.
    const t2 = nextTs();
    await slack.sendEvent(bot.endpoint, mentionEvent('topic two', { ts: t2 }));
    await expect.poll(() => findButton(thread(t2), ACTIONS.startNow), { timeout: 15_000 }).toBeDefined();
    ds.pause();
    await slack.sendEvent(bot.endpoint, replyEvent('go', t2));
    await expect.poll(() => ds.open).toBe(1);
    await bot.kill();
    ds.resume();
    bot = await boot();
    await expect.poll(() => slack.files.length, { timeout: 20_000 }).toBe(2);
    expect(says(t2, /restarted; running your research again/)).toBe(true);
    expect(researchRequests()).toBe(3);
    await expect.poll(() => thread(t2).some((m) => /Research finished/.test(m.text))).toBe(true);

    // 4. Killed after the end: nothing runs again and nothing is posted twice.
    const before = { requests: ds.requests.length, messages: thread(t2).length };
    await bot.kill();
    bot = await boot();
    // A new mention after the restart gets its question: by then recovery (done before "bot started") and
    // anything it queued ahead of the new request had their turn.
    const t3 = nextTs();
    await slack.sendEvent(bot.endpoint, mentionEvent('topic three', { ts: t3 }));
    await expect.poll(() => findButton(thread(t3), ACTIONS.startNow), { timeout: 15_000 }).toBeDefined();
    expect(ds.requests.slice(before.requests).map((r) => r.body.input?.messages?.map((m) => m.content))).toEqual([['topic three']]);
    expect(thread(t2).length).toBe(before.messages);
  }, 90_000);

  it('while queued behind another run: the queued run starts after the restart, without a restart notice', async () => {
    const { boot } = await world({ MAX_CONCURRENT_RESEARCH: '1', SKIP_CLARIFICATION: 'true' });
    let bot = await boot();
    ds.pause();
    const [a, b] = [nextTs(), nextTs()];
    await slack.sendEvent(bot.endpoint, mentionEvent('first', { ts: a, user: 'U1' }));
    await expect.poll(() => ds.open).toBe(1);
    await slack.sendEvent(bot.endpoint, mentionEvent('second', { ts: b, user: 'U2' }));
    await expect.poll(() => says(b, /position 1 in the queue/)).toBe(true);
    await bot.kill();
    ds.resume();
    bot = await boot();
    await expect.poll(() => slack.files.length, { timeout: 20_000 }).toBe(2);
    expect(says(a, /restarted/)).toBe(true);
    expect(says(b, /restarted/)).toBe(false);
    // The interrupted run ran twice (announced), the queued one once.
    expect(ds.requests.map((r) => r.body.input?.messages?.[0]?.content)).toEqual(['first', 'first', 'second']);
  }, 60_000);
});
