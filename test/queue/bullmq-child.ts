import { createBullQueue } from '../../src/store/bullmq-queue.js';

/**
 * A bot process for the stalled-takeover test: a queue instance whose runs never end. It reports each run it
 * starts to the parent, which then SIGKILLs it mid-run.
 */
const send = (m: object) => process.send!(m);
const queue = createBullQueue({
  redis: process.env.REDIS_URL!,
  prefix: process.env.QUEUE_PREFIX!,
  lockDurationMs: Number(process.env.LOCK_MS),
  stalledIntervalMs: Number(process.env.STALLED_MS),
  pollMs: 200,
})(
  Number(process.env.CONCURRENCY ?? 1),
  async (key) => {
    send({ started: key });
    await new Promise(() => {});
  },
  () => {},
);
await (queue as { start?: () => Promise<void> }).start?.();
send({ ready: true });
