import { afterAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/core/ports/logger.js';
import { BullResearchQueue } from '../../src/store/bullmq-queue.js';
import { freePort } from '../core/harness.js';
import { OwnRedis } from '../store/redis-env.js';
import { FAST, Runs } from './helpers.js';

/** A Redis of the test's own that dies mid-run and comes back: the queue logs, refuses, recovers; nothing crashes. */

const hasServer = OwnRedis.installed();
if (!hasServer) console.warn('BullMQ outage test: SKIPPED, no redis-server binary to start a Redis of its own.');


/** A logger keeping its lines; `seen(line)` resolves once that line is logged. */
function capture(): Logger & { lines: string[]; seen(line: string): Promise<void> } {
  const lines: string[] = [];
  let waiters: { line: string; done: () => void }[] = [];
  const push = (line: string) => {
    lines.push(line);
    waiters = waiters.filter((w) => (w.line === line ? (w.done(), false) : true));
  };
  const log = {
    lines,
    seen: (line: string) => (lines.includes(line) ? Promise.resolve() : new Promise<void>((done) => waiters.push({ line, done }))),
    debug() {},
    info: (_: object, m?: string) => push(`info ${m}`),
    warn: (_: object, m?: string) => push(`warn ${m}`),
    error: (_: object, m?: string) => push(`error ${m}`),
    child: () => log,
  };
  return log;
}

describe.runIf(hasServer)('BullMQ research queue when Redis goes away mid-run', () => {
  let redis: OwnRedis | undefined;
  afterAll(() => redis?.signal('SIGKILL'));

  it('keeps the process up: the run ends, operations are refused during the outage, jobs run again after it', async () => {
    redis = new OwnRedis(await freePort());
    await redis.start();
    const log = capture();
    const runs = new Runs();
    const errors: unknown[] = [];
    const q = new BullResearchQueue({ redis: redis.url, ...FAST, connectTimeoutMs: 300, log }, 1, runs.execute('q'), (_, err) => errors.push(err));
    await q.start();
    await q.add('k1', 'u1');
    await runs.until(() => runs.starts.length === 1, 'k1');

    await redis.signal('SIGKILL');
    const t = Date.now();
    await expect(q.add('k2', 'u1')).rejects.toThrow();
    await expect(q.waitingKeys()).rejects.toThrow();
    expect(Date.now() - t).toBeLessThan(2000);
    runs.release('k1'); // the run ends while Redis is away
    await q.onIdle();
    await log.seen('warn research queue: redis unreachable');

    await redis.start(); // back, empty
    await expect.poll(async () => q.add('k3', 'u1').then(() => true, () => false), { timeout: 10_000 }).toBe(true);
    runs.release('k3');
    await runs.until(() => runs.of('k3')[0]?.end === 'released', 'k3 to run after the outage');
    await log.seen('info research queue: redis reachable again');
    await q.close();
    expect(errors).toEqual([]);
  });
});
