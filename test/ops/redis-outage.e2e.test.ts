import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { freePort, makeEngine, mention } from '../core/harness.js';
import { redisReachable } from '../store/redis-env.js';

const hasServer = spawnSync('redis-server', ['--version']).status === 0;
if (!hasServer) console.warn('\n!!! redis-server is not installed: the Redis outage test is SKIPPED !!!\n');

let server: ChildProcess | undefined;
let fake: FakeDashScope | undefined;
afterEach(async () => {
  server?.kill('SIGKILL');
  await fake?.close();
});

describe.runIf(hasServer)('a Redis outage while a research runs', () => {
  it('loses nothing: the answer is stored once Redis answers again and the report is delivered, billed once', { timeout: 60_000 }, async () => {
    const port = await freePort();
    // Every write on disk at once (append-only file, fsync always), so a Redis killed and started again has it all.
    const dir = mkdtempSync(join(tmpdir(), 'drb-redis-'));
    const start = async () => {
      server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always'], { stdio: 'ignore' });
      await expect.poll(() => redisReachable(`redis://127.0.0.1:${port}`, 300), { timeout: 10_000 }).toBe(true);
    };
    await start();
    fake = await new FakeDashScope({ frameDelayMs: 15 }).start();
    const store = new RedisStore(`redis://127.0.0.1:${port}`, { connectTimeoutMs: 300, commandTimeoutMs: 500, pingTimeoutMs: 300 });
    const { engine, platform } = makeEngine(fake, { store, rules: { clarify: false } });
    await engine.handle(mention('o1', 'topic'));
    await expect.poll(() => fake!.open).toBe(1);
    // Redis dies mid-research and is back only after the research has ended (and its end could not be stored).
    const dead = new Promise((r) => server!.once('exit', r));
    server!.kill('SIGKILL');
    await dead;
    await expect.poll(() => fake!.requests[0]?.outcome, { timeout: 20_000 }).toBe('completed');
    expect(await store.ping()).toBe(false);
    await new Promise((r) => setTimeout(r, 1500));
    expect(platform.reports).toHaveLength(0);
    await start();
    await expect.poll(() => platform.reports.length, { timeout: 30_000 }).toBe(1);
    await expect.poll(async () => (await store.get('o1'))?.state).toBe('done');
    expect(fake.requests).toHaveLength(1);
    await engine.stop();
    await store.close();
  });
});
