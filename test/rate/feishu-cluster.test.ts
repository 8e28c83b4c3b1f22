import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/ports/logger.js';
import type { SharedRate } from '../../src/core/ports/rate.js';
import { FeishuApi } from '../../src/platforms/feishu/api.js';
import { CardPatcher } from '../../src/platforms/feishu/patcher.js';
import { SharedBudget } from '../../src/platforms/shared-budget.js';
import { RedisSharedRate } from '../../src/store/redis-rate.js';
import { APP_ID, APP_SECRET, BOT_OPEN_ID, FakeFeishu } from '../fakes/feishu.js';
import { deleteKeys, REDIS_URL, redisReachable, requireRedis, runPrefix } from '../store/redis-env.js';

/**
 * Three Feishu API instances (three processes' worth) against one fake Feishu: each process's own budget is 15 calls a
 * second (900 a minute, under Feishu's 1000 a minute per API), so three together make 2700 a minute unless they
 * share it; and a card's patches, one per interval per process, come three times as often unless the message's
 * interval is shared (the test's interval is shorter than production's 1.5 s, so that three exceed Feishu's 5 a second).
 */

const reachable = await redisReachable();
requireRedis(reachable, 'Shared Feishu budget across three instances');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CARD = { schema: '2.0', body: { elements: [{ tag: 'markdown', content: 'progress' }] } };

const apis = (feishu: FakeFeishu, rate?: SharedRate) =>
  [0, 1, 2].map(() => new FeishuApi({ appId: APP_ID, appSecret: APP_SECRET, domain: feishu.url }, silentLogger, new SharedBudget(rate, silentLogger)));

/** Every instance makes 15 calls at once; answers the most calls the fake received within any second, and when the last came. */
async function callBurst(feishu: FakeFeishu, instances: FeishuApi[]): Promise<{ peak: number; elapsed: number }> {
  await Promise.all(instances.map((api) => api.tenantToken()));
  const start = Date.now();
  await Promise.all(instances.flatMap((api) => Array.from({ length: 15 }, () => api.botOpenId())));
  const at = feishu.calls.filter((c) => /bot\/v3\/info/.test(c.path) && c.at >= start).map((c) => c.at);
  let peak = 0;
  for (let i = 0, j = 0; j < at.length; j++) {
    while (at[j]! - at[i]! >= 1000) i++;
    peak = Math.max(peak, j - i + 1);
  }
  return { peak, elapsed: Math.max(...at) - start };
}

/** Three patchers patch one card as often as they may for `ms`; answers the patches the fake received. */
async function patchFlood(feishu: FakeFeishu, instances: FeishuApi[], ms: number, intervalMs: number): Promise<{ patches: number; elapsed: number }> {
  const id = `om_${Math.random().toString(36).slice(2)}`;
  feishu.messages.set(id, { message_id: id, chat_id: 'oc_1', sender: BOT_OPEN_ID, msg_type: 'interactive', content: CARD, history: [CARD] });
  await Promise.all(instances.map((api) => api.tenantToken()));
  const patchers = instances.map((api) => new CardPatcher(api, silentLogger, intervalMs));
  const start = Date.now();
  while (Date.now() - start < ms) {
    for (const p of patchers) p.patch(id, CARD as never, false);
    await sleep(20);
  }
  for (const p of patchers) p.stop();
  const at = feishu.calls.filter((c) => c.method === 'PATCH' && c.path.endsWith(id)).map((c) => c.at);
  return { patches: at.length, elapsed: Math.max(...at) - start };
}

describe.runIf(reachable)('three Feishu instances sharing one budget through Redis', () => {
  const prefix = runPrefix('feishu-cluster');
  afterAll(() => deleteKeys(prefix));

  it('make no more calls together than one budget allows (15 at once, then 15 a second), where alone they make three times as many', async () => {
    const [feishu, other] = await Promise.all([new FakeFeishu().start(), new FakeFeishu().start()]);
    const rate = new RedisSharedRate(REDIS_URL, { prefix });
    try {
      const shared = await callBurst(feishu, apis(feishu, rate));
      const alone = await callBurst(other, apis(other));
      console.log(`feishu: 45 calls from three instances; most in one second: shared ${shared.peak} (the last after ${shared.elapsed} ms), alone ${alone.peak} (after ${alone.elapsed} ms)`);
      // Burst 15, then one every 1/15 s: at most 30 taken in any second (one more may arrive in it, delayed on the
      // way), and the 30 beyond the burst take 2 s.
      expect(shared.peak).toBeLessThanOrEqual(31);
      expect(shared.elapsed).toBeGreaterThanOrEqual(1900);
      expect(alone.peak).toBe(45);
      expect(feishu.refused).toEqual([]);
    } finally {
      await rate.close();
      await feishu.close();
      await other.close();
    }
  });

  it('patch one card no more often than its interval between them, where alone they exceed Feishu’s 5 a second per message', async () => {
    const feishu = await new FakeFeishu().start();
    const rate = new RedisSharedRate(REDIS_URL, { prefix });
    try {
      // One patch per 250 ms per message: 4 a second between the three, or 12 (above Feishu's 5) when not shared.
      const interval = 250;
      const shared = await patchFlood(feishu, apis(feishu, rate), 2000, interval);
      expect(feishu.refused).toEqual([]);
      const alone = await patchFlood(feishu, apis(feishu), 2000, interval);
      const limited = feishu.refused.filter((r) => r.code === 230020).length;
      console.log(`feishu patches of one card: shared ${shared.patches} in ${shared.elapsed} ms; alone ${alone.patches} in ${alone.elapsed} ms, ${limited} refused (230020)`);
      expect(shared.patches).toBeLessThanOrEqual(1 + Math.ceil(shared.elapsed / interval));
      expect(shared.patches).toBeGreaterThanOrEqual(Math.floor(shared.elapsed / interval) - 1);
      expect(limited).toBeGreaterThan(0);
    } finally {
      await rate.close();
      await feishu.close();
    }
  });
});
