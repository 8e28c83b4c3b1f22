import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/ports/logger.js';
import type { SharedRate } from '../../src/core/ports/rate.js';
import { advance, startProgress } from '../../src/core/progress.js';
import { createSlack, type SlackConnection } from '../../src/platforms/slack/app.js';
import type { EditBudget } from '../../src/platforms/slack/editor.js';
import type { ProgressView } from '../../src/platforms/slack/stream-view.js';
import { RedisSharedRate } from '../../src/store/redis-rate.js';
import { FakeSlack, TEAM } from '../fakes/slack.js';
import { deleteKeys, REDIS_URL, redisReachable, requireRedis, runPrefix } from '../store/redis-env.js';

/**
 * Three Slack platform instances (three processes' worth: the real Bolt app and Web API clients each) against one
 * fake Slack that enforces the tiers with 429s, all making as many chat.update and chat.appendStream calls as they
 * can. Time runs ten times faster than Slack's: a "minute" is 6 s, for the fake's limits and for the budgets alike
 * (chat.update: Tier 3, 50 a window, budget 40 a minute + 5; appendStream: Tier 4, 100 a window, budget 80 + 8).
 */

const reachable = await redisReachable();
requireRedis(reachable, 'Shared Slack budget across three instances');

const SCALE = 10;
const WINDOW_MS = 60_000 / SCALE;
const TIERS = { 'chat.update': 50, 'chat.appendStream': 100 } as const;
const LIFTED = { perMinute: 600_000, burst: 1000 };
const BUDGET: EditBudget = {
  perMinute: 40 * SCALE,
  burst: 5,
  streams: { 'chat.appendStream': { perMinute: 80 * SCALE, burst: 8 }, 'chat.startStream': LIFTED, 'chat.stopStream': LIFTED },
};
const FAST_RETRIES = { retries: 10, factor: 1, minTimeout: 10, maxTimeout: 20, randomize: false };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fakeSlack(enforceTiers: boolean): Promise<FakeSlack> {
  const slack = new FakeSlack();
  slack.streaming = true;
  for (const m of ['chat.startStream', 'chat.stopStream']) slack.limits[m] = { max: 1_000_000, windowMs: WINDOW_MS };
  for (const [m, max] of Object.entries(TIERS)) slack.limits[m] = { max: enforceTiers ? max : 1_000_000, windowMs: WINDOW_MS };
  return slack.start();
}

function instances(slack: FakeSlack, sharedRate?: SharedRate): Promise<SlackConnection[]> {
  return Promise.all(
    [0, 1, 2].map(async () => {
      const conn = createSlack(
        { botToken: slack.botToken, signingSecret: slack.signingSecret, apiUrl: slack.apiUrl },
        { handle: async () => {}, log: silentLogger, budget: BUDGET, clientOptions: { retryConfig: FAST_RETRIES }, streaming: { tickMs: 0 }, sharedRate },
      );
      await conn.start();
      return conn;
    }),
  );
}

function view(tokens: number, now: number): ProgressView {
  const p = advance(advance(startProgress(now), { type: 'phase', phase: 'searching' }, now), { type: 'usage', usage: { inputTokens: tokens, outputTokens: 0 } }, now);
  return { kind: 'progress', lang: 'en', topic: 'topic', state: 'researching', progress: p };
}

/**
 * Every instance edits 20 messages and streams 5 runs, changing all of them every 50 ms for `ms`: far more than any
 * budget lets through, so each budget runs flat out.
 */
async function flood(slack: FakeSlack, conns: SlackConnection[], ms: number): Promise<void> {
  const runs = await Promise.all(
    conns.flatMap((conn, i) =>
      Array.from({ length: 5 }, async (_, j) => {
        const thread = `slack:${TEAM}:S${i}:1700000000.00${i}${j}`;
        const id = await conn.platform.streams.open(thread, view(0, Date.now()), 'U1');
        return { conn, run: conn.platform.streams.get(id!)! };
      }),
    ),
  );
  const edited = conns.flatMap((conn, i) =>
    Array.from({ length: 20 }, (_, j) => {
      const ts = `1700000001.${i}${String(j).padStart(5, '0')}`;
      slack.messages.set(`E${i}:${ts}`, { channel: `E${i}`, ts, text: '', blocks: [], history: [] });
      return { conn, channel: `E${i}`, ts };
    }),
  );
  const start = Date.now();
  for (let n = 1; Date.now() - start < ms; n++) {
    for (const { conn, channel, ts } of edited) conn.editor.edit(channel, ts, { text: `edit ${n}`, blocks: [] }, { urgent: false, final: false });
    for (const { conn, run } of runs) conn.platform.streams.update(run, view(n * 1000, Date.now()), false);
    await sleep(50);
  }
  // What stop() does, without its wait for final states (there are none: the runs stay live).
  for (const c of conns) {
    c.platform.stop();
    c.editor.stop();
  }
}

/** The most calls of `method` Slack received (`ok`: accepted) within any window. */
function peak(slack: FakeSlack, method: string, ok: boolean): number {
  const at = slack.calls.filter((c) => c.method === method && (!ok || c.ok)).map((c) => c.at);
  let most = 0;
  for (let i = 0, j = 0; j < at.length; j++) {
    while (at[j]! - at[i]! >= WINDOW_MS) i++;
    most = Math.max(most, j - i + 1);
  }
  return most;
}

describe.runIf(reachable)('three Slack instances sharing one budget through Redis', () => {
  const prefix = runPrefix('slack-cluster');
  afterAll(() => deleteKeys(prefix));

  it('stay within chat.update’s and appendStream’s tiers together, where on their own budgets alone they exceed them', async () => {
    const sharedSlack = await fakeSlack(true);
    const aloneSlack = await fakeSlack(false);
    const rate = new RedisSharedRate(REDIS_URL, { prefix });
    try {
      // Both trios at once: one sharing a budget (against tiers enforced), one not (against tiers lifted, to count).
      const [shared, alone] = await Promise.all([instances(sharedSlack, rate), instances(aloneSlack)]);
      await Promise.all([flood(sharedSlack, shared, 1.5 * WINDOW_MS), flood(aloneSlack, alone, WINDOW_MS + 500)]);
      const figures = Object.keys(TIERS).map((m) => ({
        method: m,
        shared: peak(sharedSlack, m, false) * SCALE,
        sharedAccepted: peak(sharedSlack, m, true) * SCALE,
        alone: peak(aloneSlack, m, false) * SCALE,
      }));
      console.log(`peak calls per (scaled) minute across the three instances:\n${figures.map((f) => JSON.stringify(f)).join('\n')}`);

      expect(sharedSlack.rateLimited).toEqual({});
      expect(sharedSlack.refused).toEqual([]);
      for (const [m, max] of Object.entries(TIERS)) {
        const sharedPeak = peak(sharedSlack, m, false);
        expect(sharedPeak, m).toBeLessThanOrEqual(max);
        // Sharing does not starve them: together they still get close to the budget (perMinute + burst).
        expect(sharedPeak, m).toBeGreaterThanOrEqual(m === 'chat.update' ? 40 : 80);
        // On their own budgets the three together go well over the tier.
        expect(peak(aloneSlack, m, false), m).toBeGreaterThan(max * 2);
      }
      expect(aloneSlack.refused).toEqual([]);
    } finally {
      await rate.close();
      await sharedSlack.close();
      await aloneSlack.close();
    }
  }, 40_000);

  it('with Redis unreachable, edits and stream calls go by each instance’s own budget: nothing stalls', async () => {
    const slack = await fakeSlack(true);
    const dead = new RedisSharedRate('redis://127.0.0.1:1', { prefix, connectTimeoutMs: 200, readyTimeoutMs: 200 });
    try {
      const [conn] = await instances(slack, dead);
      slack.messages.set('E9:1700000002.000001', { channel: 'E9', ts: '1700000002.000001', text: '', blocks: [], history: [] });
      const id = await conn!.platform.streams.open(`slack:${TEAM}:S9:1700000002.000000`, view(0, Date.now()), 'U1');
      expect(id).toBeDefined();
      for (let n = 1; n <= 3; n++) {
        conn!.editor.edit('E9', '1700000002.000001', { text: `edit ${n}`, blocks: [] }, { urgent: true, final: n === 3 });
        conn!.platform.streams.update(conn!.platform.streams.get(id!)!, view(n * 1000, Date.now()), false);
        await sleep(100);
      }
      await expect.poll(() => slack.messages.get('E9:1700000002.000001')!.text, { timeout: 3000 }).toBe('edit 3');
      expect(slack.callsOf('chat.appendStream').filter((c) => c.ok).length).toBeGreaterThanOrEqual(2);
      await conn!.stop();
    } finally {
      await dead.close();
      await slack.close();
    }
  });
});
