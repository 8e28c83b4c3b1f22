import { ThreadLocks } from '../../src/core/thread-locks.js';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/core/engine.js';
import { noTelemetry } from '../../src/core/ports/telemetry.js';
import { createQwenBackend } from '../../src/research/qwen.js';
import { createBullQueue } from '../../src/store/bullmq-queue.js';
import { RedisStore } from '../../src/store/redis.js';
import { RedisThreadLock } from '../../src/store/redis-lock.js';
import { action, LIMITS, mention, RULES } from '../core/harness.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { RecordingPlatform } from '../fakes/recording-platform.js';
import { deleteKeys, REDIS_URL, redisReachable, requireRedis, runPrefix } from '../store/redis-env.js';
import { FAST } from './helpers.js';

/**
 * Two engines standing for two bot processes on one Redis: the Redis store, the BullMQ queue and the Redis thread
 * lock, one chat. What the queue's semantics give the engine: a run handed back at a drain deadline is run again
 * by the other process (announced, once), and a cancel reaches the process that runs the research.
 */

const reachable = await redisReachable();
requireRedis(reachable, 'engine on the BullMQ queue');

describe.runIf(reachable)('engines of a cluster on the BullMQ queue', () => {
  const base = runPrefix('engine-cluster');
  let n = 0;
  let fake: FakeDashScope;
  const opened: { engine: Engine; store: RedisStore }[] = [];
  beforeEach(async () => {
    fake = await new FakeDashScope().start();
  });
  afterEach(async () => {
    fake.resume();
    for (const p of opened.splice(0)) {
      await p.engine.stop();
      await p.store.close();
    }
    fake.close();
  });
  afterAll(async () => {
    await deleteKeys(base);
  });

  function processOf(prefix: string, platform: RecordingPlatform) {
    const store = new RedisStore(REDIS_URL, { prefix });
    const engine = new Engine({
      store,
      backend: createQwenBackend({ baseUrl: fake.url, apiKey: 'sk-test', model: 'qwen-deep-research', idleTimeoutMs: 5000, retries: 1, retryBaseMs: 5 }),
      platforms: [platform],
      rules: { ...RULES, clarify: false },
      limits: { ...LIMITS, maxConcurrent: 2 },
      format: 'detailed',
      progressIntervalMs: 20,
      postRetryDelaysMs: [5, 20],
      telemetry: noTelemetry,
      queue: createBullQueue({ redis: REDIS_URL, prefix, ...FAST }),
      locks: new RedisThreadLock(store.client, new ThreadLocks(), { prefix }),
    });
    opened.push({ engine, store });
    // As the bot does at start: recovery, then the queue takes jobs.
    void engine.recover();
    return engine;
  }

  it('a run handed back at the drain deadline is run again by the other process, announced, once', async () => {
    const prefix = `${base}${++n}:`;
    const chat = new RecordingPlatform();
    const a = processOf(prefix, chat);
    fake.pause();
    await a.handle(mention('h1', 'topic'));
    await expect.poll(() => fake.open).toBe(1);
    processOf(prefix, chat); // b

    await a.stop(0); // the drain deadline: a's research is aborted and its job handed back
    await expect.poll(() => fake.requests.length).toBe(2); // b runs it again
    expect(chat.notices('h1')).toEqual(['The bot restarted; running your research again.']);
    fake.resume();
    await expect.poll(() => chat.progress('h1')?.state).toBe('done');
    expect(chat.reports).toHaveLength(1);
    expect(fake.requests).toHaveLength(2);
  });

  it('a cancel handled by one process stops the research streaming in the other', async () => {
    const prefix = `${base}${++n}:`;
    const chat = new RecordingPlatform();
    const a = processOf(prefix, chat);
    fake.pause();
    await a.handle(mention('c1', 'topic'));
    await expect.poll(() => fake.open).toBe(1);
    const b = processOf(prefix, chat);

    await b.handle(action('c1', 'cancel'));
    await expect.poll(() => fake.clientAborts).toBe(1);
    await expect.poll(() => chat.progress('c1')?.state).toBe('cancelled');
    expect(fake.requests).toHaveLength(1);
  });
});
