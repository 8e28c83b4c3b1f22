import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { deleteKeys, REDIS_URL, redisReachable, requireRedis, runPrefix } from '../store/redis-env.js';
import { FAST, Instances, Runs, eventually } from './helpers.js';

/**
 * A process that dies mid-run (SIGKILL of a real child process holding the job): BullMQ finds its job stalled
 * once its lock expires, puts it in front of the waiting jobs, and another process runs it, once.
 */

const reachable = await redisReachable();
requireRedis(reachable, 'BullMQ stalled-takeover tests');

const CHILD = fileURLToPath(new URL('./bullmq-child.ts', import.meta.url));

describe.runIf(reachable)('BullMQ research queue: a process dies mid-run', () => {
  const prefix = runPrefix('queue-stalled');
  const instances = new Instances(prefix);
  let child: ChildProcess | undefined;
  afterEach(async () => {
    child?.kill('SIGKILL');
    await instances.closeAll();
  });
  afterAll(async () => {
    await deleteKeys(prefix);
  });

  it('another process takes the job over within lockDuration + stalledInterval, ahead of the waiting jobs', async () => {
    const runs = new Runs();
    const adder = instances.open(1, runs.execute('adder'));
    await adder.pause(); // adds only

    child = fork(CHILD, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, REDIS_URL, QUEUE_PREFIX: prefix, LOCK_MS: String(FAST.lockDurationMs), STALLED_MS: String(FAST.stalledIntervalMs) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const messages: { started?: string; ready?: boolean }[] = [];
    const next = (pred: (m: (typeof messages)[number]) => boolean) =>
      new Promise<void>((resolve, reject) => {
        if (messages.some(pred)) return resolve();
        const onMessage = () => messages.some(pred) && (child!.off('message', onMessage), resolve());
        child!.on('message', onMessage);
        child!.once('exit', (code) => reject(new Error(`child exited (${code}) before: ${JSON.stringify(messages)}`)));
      });
    child.on('message', (m: (typeof messages)[number]) => messages.push(m));
    await next((m) => !!m.ready);

    await adder.add('dying', 'u1');
    await next((m) => m.started === 'dying');
    await adder.add('w1', 'u2');
    await adder.add('w2', 'u3');
    expect(await adder.waitingKeys()).toEqual(['w1', 'w2']);

    const survivor = instances.open(1, runs.execute('survivor'));
    await survivor.start();
    runs.autoRelease = true;
    const killedAt = Date.now();
    child.kill('SIGKILL');

    await runs.until(() => runs.starts.length >= 1, 'the dead process job to be taken over', 10_000);
    const tookMs = runs.starts[0]!.at - killedAt;
    console.info(`stalled job taken over ${tookMs} ms after SIGKILL (lock ${FAST.lockDurationMs} ms, stalled check every ${FAST.stalledIntervalMs} ms)`);
    expect(runs.starts[0]!.key).toBe('dying');
    // The lock expires at most lockDuration after the kill; the next stalled check (every stalledInterval) moves it.
    expect(tookMs).toBeLessThan(FAST.lockDurationMs + FAST.stalledIntervalMs + 1500);

    await runs.until(() => runs.ended().length === 3, 'all three jobs');
    await eventually(async () => (await Promise.all(['dying', 'w1', 'w2'].map((k) => survivor.has(k)))).every((h) => !h), 'all jobs completed');
    // The recovered job went ahead of the waiting ones, and ran once.
    expect(runs.summary()).toEqual(['survivor:dying:released', 'survivor:w1:released', 'survivor:w2:released']);
    expect(survivor.counts.stalled).toBe(1); // its checker found it (the adder is paused, the child dead)
    expect(instances.errors).toEqual([]);
  });
});
