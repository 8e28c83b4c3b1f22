import { afterEach, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { freePort, makeEngine, mention } from '../core/harness.js';
import { OwnRedis } from '../store/redis-env.js';

const hasServer = OwnRedis.installed();
if (!hasServer) console.warn('\n!!! redis-server is not installed: the Redis outage test is SKIPPED !!!\n');

let redis: OwnRedis | undefined;
let fake: FakeDashScope | undefined;
afterEach(async () => {
  await redis?.signal('SIGKILL');
  await fake?.close();
});

describe.runIf(hasServer)('a Redis outage while a research runs', () => {
  it('loses nothing: the answer is stored once Redis answers again and the report is delivered, billed once', { timeout: 60_000 }, async () => {
    // Persisted: killed and started again, it still has the conversation.
    redis = new OwnRedis(await freePort(), true);
    await redis.start();
    fake = await new FakeDashScope({ frameDelayMs: 15 }).start();
    const store = new RedisStore(redis.url, { connectTimeoutMs: 300, commandTimeoutMs: 500, pingTimeoutMs: 300 });
    const { engine, platform } = makeEngine(fake, { store, rules: { clarify: false } });
    await engine.handle(mention('o1', 'topic'));
    await expect.poll(() => fake!.open).toBe(1);
    // Redis dies mid-research and is back only after the research has ended (and its end could not be stored).
    await redis.signal('SIGKILL');
    await expect.poll(() => fake!.requests[0]?.outcome, { timeout: 20_000 }).toBe('completed');
    expect(await store.ping()).toBe(false);
    await new Promise((r) => setTimeout(r, 1500));
    expect(platform.reports).toHaveLength(0);
    await redis.start();
    await expect.poll(() => platform.reports.length, { timeout: 30_000 }).toBe(1);
    await expect.poll(async () => (await store.get('o1'))?.state).toBe('done');
    expect(fake.requests).toHaveLength(1);
    await engine.stop();
    await store.close();
  });
});
