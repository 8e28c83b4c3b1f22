import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { processWorld, type BotProcess, type ProcessWorld } from '../ops/bot-process.js';
import { findButton, mentionEvent, nextTs, replyEvent, visible } from '../slack/harness.js';
import { redisReachable, requireRedis } from '../store/redis-env.js';

/** One Redis database for this file, emptied before each test (other files use other databases). */
const DB = 11;
const STORE_URL = `redis://127.0.0.1:6379/${DB}`;

let w: ProcessWorld | undefined;
const available = await redisReachable();
requireRedis(available, 'the cluster tests (three bot processes on one Redis)');

afterEach(async () => {
  await w?.close();
  w = undefined;
});

async function cluster(n: number, env: Record<string, string> = {}, ds = {}): Promise<BotProcess[]> {
  const redis = new Redis(STORE_URL);
  await redis.flushdb();
  redis.disconnect();
  w = await processWorld({ STORE_URL, MAX_CONCURRENT_RESEARCH: '3', MAX_RESEARCH_PER_USER: '20', ...env }, ds);
  const bots: BotProcess[] = [];
  for (let i = 0; i < n; i++) bots.push(await w.boot());
  return bots;
}

const topicOf = (r: { body: { input?: { messages?: { content: unknown }[] } } }) => String(r.body.input?.messages?.[0]?.content ?? '');
const step2 = (r: { body: { input?: { messages?: unknown[] }; parameters?: Record<string, unknown> } }) => (r.body.input?.messages?.length ?? 0) > 1;

describe.runIf(available)('one bot on three processes over one Redis', () => {
  it('15 conversations with their events spread over the processes each get exactly one step 1 and one step 2', { timeout: 120_000 }, async () => {
    const bots = await cluster(3);
    // One channel each: Slack posts about one message per second per channel, a limit the bot does not share.
    const threads: string[] = [];
    const channel = (i: number) => `C${100 + i}`;
    for (let i = 0; i < 15; i++) {
      const ts = nextTs();
      threads.push(ts);
      await w!.slack.sendEvent(bots[i % 3]!.endpoint, mentionEvent(`topic ${i}`, { ts, user: `U${i}`, channel: channel(i) }));
    }
    // A duplicate of one mention reaches two processes at once: it counts once.
    const dup = mentionEvent('topic 0', { ts: threads[0], user: 'U0', channel: channel(0) });
    await Promise.all([w!.slack.sendEvent(bots[1]!.endpoint, dup), w!.slack.sendEvent(bots[2]!.endpoint, dup)]);
    for (let i = 0; i < 15; i++) {
      const thread = () => w!.slack.thread(channel(i), threads[i]!);
      await expect.poll(() => findButton(thread(), 'drb_start_now'), { timeout: 30_000 }).toBeTruthy();
      // The answer goes to another process than the mention: a reply for even ones, the button for odd ones.
      if (i % 2 === 0) await w!.slack.sendEvent(bots[(i + 1) % 3]!.endpoint, replyEvent('focus on 2026', threads[i]!, { user: `U${i}`, channel: channel(i) }));
      else await w!.slack.sendAction(bots[(i + 2) % 3]!.endpoint, w!.slack.buttonPayload(findButton(thread(), 'drb_start_now')!, 'drb_start_now', `U${i}`));
    }
    for (let i = 0; i < 15; i++) await expect.poll(() => w!.slack.thread(channel(i), threads[i]!).some((m) => /References/.test(visible(m))), { timeout: 60_000 }).toBe(true);
    // Each one question and one research, the duplicated mention of topic 0 included.
    for (let i = 0; i < 15; i++) {
      const mine = w!.ds.requests.filter((r) => topicOf(r) === `topic ${i}`);
      expect(mine.filter((r) => !step2(r))).toHaveLength(1);
      expect(mine.filter(step2)).toHaveLength(1);
    }
    // MAX_CONCURRENT_RESEARCH holds across the cluster, and no Slack method was answered 429.
    expect(w!.ds.maxOpen).toBeLessThanOrEqual(3);
    expect(w!.slack.rateLimited).toEqual({});
    expect(w!.slack.peakPerMinute('chat.update')).toBeLessThanOrEqual(50);
  });

  it('SIGKILL of a process mid-research: every conversation ends with its report; only its runs run again, once each', { timeout: 180_000 }, async () => {
    const bots = await cluster(3, { SKIP_CLARIFICATION: 'true', MAX_CONCURRENT_RESEARCH: '6' }, { frameDelayMs: 150 });
    const threads: string[] = [];
    for (let i = 0; i < 6; i++) {
      const ts = nextTs();
      threads.push(ts);
      await w!.slack.sendEvent(bots[i % 3]!.endpoint, mentionEvent(`killed ${i}`, { ts, user: `U${i}` }));
    }
    await expect.poll(() => w!.ds.open, { timeout: 30_000 }).toBe(6);
    await bots[0]!.kill('SIGKILL');
    for (const ts of threads) await expect.poll(() => w!.slack.thread('C1', ts).some((m) => /References/.test(visible(m))), { timeout: 150_000 }).toBe(true);
    const cut = new Set(w!.ds.requests.filter((r) => r.outcome === 'cut').map(topicOf));
    expect(cut.size).toBeGreaterThan(0);
    for (let i = 0; i < 6; i++) {
      const runs = w!.ds.requests.filter((r) => topicOf(r) === `killed ${i}`);
      const rerun = cut.has(`killed ${i}`);
      expect(runs).toHaveLength(rerun ? 2 : 1);
      const notices = w!.slack.thread('C1', threads[i]!).filter((m) => /running your research again/.test(visible(m)));
      expect(notices).toHaveLength(rerun ? 1 : 0);
    }
  });

  it('a rolling restart with a drain window re-runs nothing', { timeout: 180_000 }, async () => {
    const bots = await cluster(3, { SKIP_CLARIFICATION: 'true', MAX_CONCURRENT_RESEARCH: '10', DRAIN_SECONDS: '60' }, { frameDelayMs: 60 });
    const threads: string[] = [];
    for (let i = 0; i < 10; i++) {
      const ts = nextTs();
      threads.push(ts);
      await w!.slack.sendEvent(bots[i % 3]!.endpoint, mentionEvent(`rolling ${i}`, { ts, user: `U${i}` }));
    }
    await expect.poll(() => w!.ds.open, { timeout: 30_000 }).toBe(10);
    for (const old of bots) {
      const fresh = await w!.boot();
      expect(fresh.port).toBeGreaterThan(0);
      await old.kill('SIGTERM');
    }
    for (const ts of threads) await expect.poll(() => w!.slack.thread('C1', ts).some((m) => /References/.test(visible(m))), { timeout: 120_000 }).toBe(true);
    expect(w!.ds.requests).toHaveLength(10);
    expect(w!.ds.requests.filter((r) => r.outcome === 'cut')).toEqual([]);
    for (const ts of threads) expect(w!.slack.thread('C1', ts).some((m) => /running your research again/.test(visible(m)))).toBe(false);
  });
});
