import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeDashScope } from '../fakes/dashscope.js';
import { makeEngine, mention } from './harness.js';

let fake: FakeDashScope;
beforeEach(async () => {
  fake = await new FakeDashScope({ frameDelayMs: 20 }).start();
});
afterEach(() => fake.close());

describe('draining on stop', () => {
  it('is not ready while it drains, and lets the running research finish within the window', async () => {
    const { engine, platform } = makeEngine(fake, { rules: { clarify: false } });
    expect(engine.health()).toEqual({ ready: true });
    await engine.handle(mention('d1', 'topic'));
    await expect.poll(() => fake.open).toBe(1);
    const stopped = engine.stop(30_000);
    expect(engine.health()).toEqual({ ready: false, reason: 'draining: finishing the research running here' });
    await stopped;
    expect(platform.reports).toHaveLength(1);
    expect(fake.requests.filter((r) => r.outcome === 'cut')).toEqual([]);
  });
});
