import { DelayedError, Queue, WaitingError, Worker, type Job } from 'bullmq';
import type { ThreadKey } from '../core/ports/chat.js';
import { silentLogger, type Logger } from '../core/ports/logger.js';
import type { Execute, QueueFactory, ResearchQueue } from '../core/ports/queue.js';
import { Cancels } from './bullmq-cancels.js';
import { closeClient, errorLogger, openConnections, type BullConnections, type RedisTarget } from './bullmq-connections.js';
import { decodeJobId, encodeJobId, type JobData, type Run, parseSnapshot, placeIfAdded, priorityFor, SNAPSHOT_SCRIPT, waitingOrder, type QueueSnapshot } from './bullmq-order.js';
import { whenReady } from './redis-connection.js';

export interface BullQueueOptions {
  /** The Redis the cluster shares: a `redis://`/`rediss://` URL or ioredis options. */
  redis: RedisTarget;
  /** Key prefix, as the store's (default `drb:`): BullMQ's keys are `<prefix><name>:…`. Tests isolate by it. */
  prefix?: string;
  /** Queue name (default `research`). */
  name?: string;
  /** How long a job's lock lasts unless its worker renews it (default 30 000; renewed every half of it). */
  lockDurationMs?: number;
  /**
   * How often the cluster looks for stalled jobs (default 15 000). Every check marks the active jobs and moves
   * those marked last time whose lock is gone, so a dead process's job is taken over within about
   * lockDuration + stalledInterval (45 s with the defaults).
   */
  stalledIntervalMs?: number;
  /** How long an idle worker blocks waiting for a job before looking again (default 1000; BullMQ's drainDelay). */
  pollMs?: number;
  /** How long an operation of the engine waits for the connection (default 2000). */
  connectTimeoutMs?: number;
  log?: Logger;
}

const ACTIVE_STATES = new Set(['active', 'waiting', 'prioritized', 'delayed', 'waiting-children', 'paused']);
/** How long a job whose run threw (Redis away, the thread locked too long) waits before it is taken again. */
const RETRY_FAILED_MS = 15_000;

/** The research queue on BullMQ, shared by every process of the cluster (see BullResearchQueue). */
export function createBullQueue(opts: BullQueueOptions): QueueFactory {
  return (concurrency, execute, onError) => new BullResearchQueue(opts, concurrency, execute, onError);
}

/**
 * Research runs as BullMQ jobs, one per thread (the job id is the thread key), run by whichever process of the
 * cluster takes them, at most `concurrency` at once across the cluster (the queue's global concurrency).
 * - Fairness: a job's priority counts the runs its person already has (bullmq-order.ts, priorityFor).
 * - Cancel: a waiting job is removed; a running one is aborted through a pub/sub channel every process hears.
 * - A process that dies mid-run: BullMQ finds its job stalled (lock not renewed) and puts it at the front of the
 *   wait list, ahead of every waiting job; another process runs it, and the engine's execute recovers it
 *   (announced, bounded attempts). BullMQ itself never fails a job for stalling (maxStalledCount is huge).
 * - Drain: pause() stops this process taking jobs; abortAll() aborts its runs and puts each job back at the
 *   front of the wait list, neither completed nor failed, for another process.
 */
export class BullResearchQueue implements ResearchQueue {
  private readonly conns: BullConnections;
  private readonly queue: Queue<JobData>;
  private readonly worker: Worker<JobData>;
  private readonly log: Logger;
  private readonly channel: string;
  private readonly readyMs: number;
  readonly shared = true;
  private readonly active = new Map<ThreadKey, Run>();
  private readonly cancels = new Cancels();
  private idle: (() => void)[] = [];
  private paused = false;
  private closing: Promise<void> | undefined;
  private queued = 0;
  /** For /metrics: stalled jobs this process's checker moved (each counted by one process), runs handed back at a drain deadline. */
  readonly counts = { stalled: 0, handedBack: 0 };
  /** Resolves once the cluster's concurrency is set and this process's worker takes jobs (or it was paused first). */
  started: Promise<void> | undefined;

  constructor(
    opts: BullQueueOptions,
    private readonly concurrency: number,
    private readonly execute: Execute,
    private readonly onError: (key: ThreadKey, err: unknown) => void,
  ) {
    const prefix = (opts.prefix ?? 'drb:').replace(/:$/, '');
    const name = opts.name ?? 'research';
    this.log = (opts.log ?? silentLogger).child({ queue: `${prefix}:${name}` });
    this.readyMs = opts.connectTimeoutMs ?? 2000;
    this.channel = `${prefix}:${name}:cancel`;
    this.conns = openConnections(opts.redis, { name: `${prefix}:${name}`, connectTimeoutMs: this.readyMs, log: this.log });
    this.queue = new Queue<JobData>(name, { connection: this.conns.producer, prefix });
    this.queue.on('error', errorLogger(this.log, 'queue'));
    this.worker = new Worker<JobData>(name, (job, token) => this.process(job, token), {
      connection: this.conns.worker,
      prefix,
      concurrency,
      autorun: false,
      lockDuration: opts.lockDurationMs ?? 30_000,
      stalledInterval: opts.stalledIntervalMs ?? 15_000,
      maxStalledCount: 1_000_000,
      drainDelay: (opts.pollMs ?? 1000) / 1000,
    });
    this.worker.on('error', errorLogger(this.log, 'worker'));
    this.worker.on('lockRenewalFailed', (ids: string[]) => ids.forEach((id) => this.lost(id)));
    this.worker.on('stalled', (id: string) => ++this.counts.stalled && this.log.warn({ thread: decodeJobId(id) }, 'research job stalled (its process died?): queued again in front'));
    this.conns.subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.heard(message);
    });
    this.conns.subscriber.subscribe(this.channel).catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'research queue: could not subscribe to cancels'));
  }

  /** Starts taking jobs: once the process is up and has recovered what was left (a process failing start-up takes none). */
  start(): Promise<void> {
    return (this.started ??= this.begin());
  }

  get size(): { running: number; queued: number } {
    return { running: this.active.size, queued: this.queued };
  }

  /** Adds the thread's job unless it has one (BullMQ keeps one job per id; a finished one is removed). */
  async add(key: ThreadKey, user: string): Promise<boolean> {
    const snap = await this.snapshot();
    if ([...waitingOrder(snap), ...snap.active].some((r) => r.key === key)) return false;
    await this.queue.add('research', { user }, { jobId: encodeJobId(key), priority: priorityFor(user, snap), removeOnComplete: true, removeOnFail: true });
    return true;
  }

  async cancel(key: ThreadKey): Promise<void> {
    const id = encodeJobId(key);
    await this.connected();
    const job = await this.queue.getJob(id);
    if (!job) return;
    // A job that is not running (or whose process died) is removed; a running one is locked and stays.
    if ((await this.queue.remove(id)) === 1) return;
    const message = Cancels.message({ id, ts: job.timestamp });
    this.heard(message);
    await this.conns.producer.publish(this.channel, message);
  }

  async has(key: ThreadKey): Promise<boolean> {
    if (this.active.has(key)) return true;
    await this.connected();
    return ACTIVE_STATES.has(await this.queue.getJobState(encodeJobId(key)));
  }

  async position(key: ThreadKey): Promise<number | undefined> {
    const i = waitingOrder(await this.snapshot()).findIndex((r) => r.key === key);
    return i < 0 ? undefined : i + 1;
  }

  async positionIfAdded(user: string): Promise<number | undefined> {
    return placeIfAdded(user, await this.snapshot(), this.concurrency);
  }

  async waitingKeys(): Promise<ThreadKey[]> {
    return waitingOrder(await this.snapshot()).map((r) => r.key);
  }

  /** The cluster's figures (for /metrics): runs waiting and running across all processes. */
  async cluster(): Promise<{ waiting: number; running: number }> {
    const snap = await this.snapshot();
    return { waiting: this.queued, running: snap.active.length };
  }

  /** Takes no job from now on; the running ones go on (and their locks are still renewed). */
  async pause(): Promise<void> {
    this.paused = true;
    await this.worker.pause(true).catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'research queue: pause failed'));
  }

  /** Aborts this process's runs; each job goes back to the front of the queue when its execute returns. */
  abortAll(): void {
    for (const run of this.active.values()) {
      run.handBack = true;
      run.ac.abort();
    }
  }

  /** Resolves when no job runs in this process (waiting jobs belong to the cluster). */
  onIdle(): Promise<void> {
    if (this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.paused = true;
      const timeout = new Promise<void>((r) => setTimeout(r, 10_000).unref());
      // The worker waits for its running jobs (none after a drain) and closes its blocking connection.
      await Promise.race([this.worker.close().catch(() => undefined), timeout]);
      await Promise.race([this.queue.close().catch(() => undefined), timeout]);
      await Promise.all(Object.values(this.conns).map(closeClient));
    })();
    return this.closing;
  }

  /** Sets the cluster-wide concurrency (retried while Redis is away), then starts the worker. */
  private async begin(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.closing || this.paused) return;
      try {
        await this.connected();
        await this.queue.setGlobalConcurrency(this.concurrency);
        await this.worker.waitUntilReady();
        break;
      } catch (err) {
        if (attempt === 0) this.log.warn({ err: (err as Error).message }, 'research queue: cannot reach redis yet; retrying');
        await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** attempt, 5000)).unref());
      }
    }
    if (this.closing || this.paused) return;
    this.worker.run().catch((err: unknown) => this.log.error({ err: (err as Error).message }, 'research queue: worker stopped'));
  }

  /** One job's turn in this process. */
  private async process(job: Job<JobData>, token: string | undefined): Promise<void> {
    const key = decodeJobId(job.id!);
    if (this.paused || this.closing) {
      // Taken in the instant this process was paused (a blocked fetch woke up): it was next, so back in front.
      this.log.debug({ thread: key }, 'research job taken while pausing: handed back');
      await this.giveBack(job, token);
      throw new WaitingError();
    }
    const run: Run = { job, ac: new AbortController(), handBack: false, lost: false };
    this.active.set(key, run);
    if (this.cancels.has(job.id!, job.timestamp)) run.ac.abort();
    try {
      try {
        await this.execute(key, run.ac.signal);
      } catch (err) {
        this.onError(key, err);
        if (!run.lost && !run.handBack) {
          await job.moveToDelayed(Date.now() + RETRY_FAILED_MS, token).catch(() => undefined);
          throw new DelayedError();
        }
      }
      // Someone else's job now, or handed back: either way neither completed nor failed here.
      if (run.lost) throw new WaitingError();
      if (run.handBack) {
        if (await this.giveBack(job, token)) this.counts.handedBack++;
        throw new WaitingError();
      }
    } finally {
      this.active.delete(key);
      if (this.active.size === 0) this.idle.splice(0).forEach((r) => r());
    }
  }

  /**
   * Puts a job this process holds back in front of every waiting job (priority 0 sends it to the wait list's
   * taking end, with a marker that wakes the other workers). If this fails, the lock expires and the job is
   * found stalled instead.
   */
  private async giveBack(job: Job<JobData>, token: string | undefined): Promise<boolean> {
    try {
      await job.changePriority({ priority: 0 });
      await job.moveToWait(token);
      return true;
    } catch (err) {
      this.log.warn({ thread: decodeJobId(job.id!), err: (err as Error).message }, 'could not hand the research job back; it will be found stalled');
      return false;
    }
  }

  /** The lock of a job running here could not be renewed: another process may run it, so stop. */
  private lost(id: string): void {
    const run = this.active.get(decodeJobId(id));
    if (!run) return;
    this.log.warn({ thread: decodeJobId(id) }, 'research job lock lost: stopping the run here');
    run.lost = true;
    run.ac.abort();
  }

  /** A cancel heard on the channel (or made here): aborts that job instance if it runs here. */
  private heard(message: string): void {
    const cancel = this.cancels.heard(message);
    const run = cancel && this.active.get(decodeJobId(cancel.id));
    if (run && run.job.timestamp === cancel!.ts) run.ac.abort();
  }

  private async snapshot(): Promise<QueueSnapshot> {
    await this.connected();
    const k = this.queue.keys;
    const raw = await this.conns.producer.eval(SNAPSHOT_SCRIPT, 3, k.wait!, k.prioritized!, k.active!, this.queue.toKey(''));
    const snap = parseSnapshot(raw);
    this.queued = snap.front.length + snap.prioritized.length;
    return snap;
  }

  /** Waits (at most connectTimeoutMs) for the producer connection: refused at once during an outage otherwise. */
  private async connected(): Promise<void> {
    if (this.closing) throw new Error('research queue is closed');
    await whenReady(this.conns.producer, this.readyMs);
    await this.queue.waitUntilReady();
  }
}
