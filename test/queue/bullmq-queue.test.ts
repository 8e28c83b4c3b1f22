import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/core/ports/logger.js';
import { Redis } from 'ioredis';
import { deleteKeys, REDIS_URL, redisReachable, requireRedis, runPrefix } from '../store/redis-env.js';
import { Instances, Runs, eventually } from './helpers.js';

/**
 * The BullMQ research queue against the real Redis: several queue instances, each with its own connections,
 * stand for the processes of a cluster. Every test has its own key prefix, deleted afterwards.
 */

const reachable = await redisReachable();
requireRedis(reachable, 'BullMQ research queue tests');

describe.runIf(reachable)('BullMQ research queue', () => {
  const base = runPrefix('queue');
  let n = 0;
  let instances: Instances;
  const fresh = () => {
    instances = new Instances(`${base}${++n}:`);
    return instances;
  };
  afterEach(async () => {
    await instances.closeAll();
    expect(instances.errors).toEqual([]);
  });
  afterAll(async () => {
    await deleteKeys(base);
  });

  it('runs a thread once when three processes add it at the same moment, and again once it finished', async () => {
    const runs = new Runs();
    const cluster = fresh();
    const qs = ['a', 'b', 'c'].map((who) => cluster.open(3, runs.execute(who)));
    await Promise.all(qs.map((q) => q.start()));
    const key = 'slack:T1:C1:1700000000.000100';

    const added = await Promise.all(qs.map((q) => q.add(key, 'U1')));
    await runs.until(() => runs.of(key).length === 1, 'the run to start');
    expect(added.filter(Boolean).length).toBeGreaterThanOrEqual(1);
    // While it runs, adding it again anywhere does nothing.
    expect(await Promise.all(qs.map((q) => q.add(key, 'U1')))).toEqual([false, false, false]);
    expect(await Promise.all(qs.map((q) => q.has(key)))).toEqual([true, true, true]);
    expect(await qs[0]!.waitingKeys()).toEqual([]);

    runs.release(key);
    await runs.until(() => runs.of(key)[0]!.end === 'released', 'the run to end');
    await eventually(async () => !(await qs[1]!.has(key)), 'the finished job to be removed');
    expect(runs.of(key)).toHaveLength(1);

    // Finished jobs are removed, so the thread can run again later.
    await qs[2]!.add(key, 'U1');
    runs.release(key);
    await runs.until(() => runs.of(key).length === 2 && !!runs.of(key)[1]!.end, 'the second run');
  });

  it('never runs more than the cluster-wide concurrency at once across processes, and runs every job', async () => {
    let running = 0;
    let most = 0;
    const runs = new Runs();
    const work = async () => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 30 + Math.random() * 60));
      running--;
    };
    const cluster = fresh();
    const qs = ['a', 'b', 'c'].map((who) => cluster.open(2, runs.execute(who, work)));
    await Promise.all(qs.map((q) => q.start()));
    const keys = Array.from({ length: 8 }, (_, i) => `slack:T1:C${i}:1.${i}`);

    await Promise.all(keys.map((k, i) => qs[i % 3]!.add(k, `U${i % 4}`)));
    await runs.until(() => runs.ended().length === 8, 'all 8 runs');

    expect(most).toBeLessThanOrEqual(2);
    expect(most).toBe(2);
    expect(runs.starts.map((s) => s.key).sort()).toEqual([...keys].sort());
    console.info(`concurrency 2 across 3 processes: runs per process ${JSON.stringify(['a', 'b', 'c'].map((w) => runs.starts.filter((s) => s.who === w).length))}`);
  });

  it('shows the waiting runs 1..n in the order they start, fair between people, and the place a new run would take', async () => {
    const runs = new Runs();
    const cluster = fresh();
    const a = cluster.open(1, runs.execute('a'));
    const b = cluster.open(1, runs.execute('b'));
    await Promise.all([a.start(), b.start()]);

    expect(await a.positionIfAdded('u1')).toBeUndefined();
    await a.add('k1', 'u1');
    await runs.until(() => runs.starts.length === 1, 'k1 to start');
    // One slot, taken: a new run would wait.
    expect(await b.positionIfAdded('u9')).toBe(1);
    for (const [key, user] of [['k2', 'u1'], ['k3', 'u1'], ['k4', 'u2'], ['k5', 'u3']] as const) await b.add(key, user);

    // Everyone's first run before anyone's second: u2 and u3 go ahead of u1's second and third.
    const order = ['k4', 'k5', 'k2', 'k3'];
    for (const q of [a, b]) {
      expect(await q.waitingKeys()).toEqual(order);
      expect(await Promise.all(['k1', ...order].map((k) => q.position(k)))).toEqual([undefined, 1, 2, 3, 4]);
    }
    expect(await a.positionIfAdded('u4')).toBe(3); // a first run: after the other first runs
    expect(await a.positionIfAdded('u2')).toBe(4); // u2's second run: after u1's second (added before)
    expect(await a.positionIfAdded('u1')).toBe(5); // u1's fourth run: last
    expect(a.size.queued).toBe(4);
    expect(await b.cluster()).toEqual({ waiting: 4, running: 1 });

    runs.autoRelease = true;
    runs.release('k1');
    await runs.until(() => runs.ended().length === 5, 'all runs');
    expect(runs.starts.map((s) => s.key)).toEqual(['k1', ...order]);
  });

  it('cancels a waiting run (removed) and a running one from another process (its signal aborted)', async () => {
    const runs = new Runs();
    const cluster = fresh();
    const runner = cluster.open(2, runs.execute('runner'));
    const other = cluster.open(2, runs.execute('other'));
    await other.pause(); // takes no job: it only adds and cancels
    await runner.start();

    await other.add('k1', 'u1');
    await other.add('k2', 'u2');
    await other.add('k3', 'u3');
    await runs.until(() => runs.starts.length === 2, 'two runs');
    expect(await other.waitingKeys()).toEqual(['k3']);

    await other.cancel('k3');
    expect(await runner.has('k3')).toBe(false);
    expect(await other.waitingKeys()).toEqual([]);

    await other.cancel('k1');
    await runs.until(() => runs.of('k1')[0]?.end === 'aborted', 'k1 aborted in the runner');
    expect(runs.of('k1')[0]!.who).toBe('runner');
    await eventually(async () => !(await other.has('k1')), 'the cancelled job to complete');

    runs.release('k2');
    await runs.until(() => runs.of('k2')[0]?.end === 'released', 'k2');
    await eventually(async () => !(await other.has('k2')), 'k2 to complete');
    // Nothing is left that could still run k3.
    expect(await other.waitingKeys()).toEqual([]);
    expect(runs.of('k3')).toEqual([]);
  });

  it('pause: takes no new job while the running one finishes; other processes take the new work', async () => {
    const runs = new Runs();
    const cluster = fresh();
    const a = cluster.open(2, runs.execute('a'));
    await a.start();
    await a.add('k1', 'u1');
    await runs.until(() => runs.starts.length === 1, 'k1 in a');

    await a.pause();
    await a.add('k2', 'u2'); // a draining process may still add: the cluster runs it
    const b = cluster.open(2, runs.execute('b'));
    await runs.until(() => runs.of('k2').length === 1, 'k2 to start');
    expect(runs.of('k2')[0]!.who).toBe('b');

    let idle = false;
    const idled = a.onIdle().then(() => (idle = true));
    expect(a.size.running).toBe(1);
    expect(idle).toBe(false);
    runs.release('k1');
    await idled;
    expect(runs.of('k1')).toMatchObject([{ who: 'a', end: 'released' }]);
    expect(a.size.running).toBe(0);
    runs.release('k2');
    await runs.until(() => runs.of('k2')[0]!.end === 'released', 'k2 to end');
    await b.close();
  });

  it('pause: a job BullMQ hands a worker blocked at that instant is given back in front, not run', async () => {
    const runs = new Runs();
    const cluster = fresh();
    const debug: string[] = [];
    const log: Logger = { debug: (_, m) => void debug.push(m!), info() {}, warn() {}, error() {}, child: () => log };
    // Blocked for up to 5 s on BullMQ's marker (BZPOPMIN), as an idle worker is.
    const a = cluster.open(1, runs.execute('a'), { log, pollMs: 5000 });
    await a.start();
    const blocking = `name=${instances.prefix.replace(/:$/, '')}:${Buffer.from('research').toString('base64')} `;
    const raw = new Redis(REDIS_URL);
    try {
      await eventually(async () => String(await raw.call('CLIENT', 'LIST')).split('\n').some((c: string) => c.includes(blocking) && c.includes('cmd=bzpopmin')), 'a blocked on BZPOPMIN');
    } finally {
      raw.disconnect();
    }
    await a.pause();
    await a.add('k1', 'u1'); // wakes a's blocked fetch, which takes k1 although a is paused
    await eventually(async () => debug.length === 1, 'a to give k1 back');
    expect(await a.waitingKeys()).toEqual(['k1']);
    const b = cluster.open(1, runs.execute('b'));
    runs.autoRelease = true;
    await runs.until(() => runs.ended().length === 1, 'k1 in b');
    expect(runs.summary()).toEqual(['b:k1:released']);
    await b.close();
  });

  it('abortAll: a running job is handed back, ahead of the waiting ones, and run once more by another process', async () => {
    const runs = new Runs();
    const cluster = fresh();
    const a = cluster.open(1, runs.execute('a'));
    await a.start();
    await a.add('k1', 'u1');
    await runs.until(() => runs.starts.length === 1, 'k1 in a');
    await a.add('k2', 'u2');
    const b = cluster.open(1, runs.execute('b'));
    await b.start();

    await a.pause();
    a.abortAll();
    await a.onIdle();
    expect(runs.of('k1')[0]).toMatchObject({ who: 'a', end: 'aborted' });
    await runs.until(() => runs.of('k1').length === 2, 'k1 to run again');
    expect(runs.of('k1')[1]!.who).toBe('b');
    expect(runs.of('k2')).toEqual([]); // the handed-back job went first
    expect(a.counts).toEqual({ stalled: 0, handedBack: 1 });

    runs.autoRelease = true;
    runs.release('k1');
    await runs.until(() => runs.ended().length === 3, 'k1 and k2 in b');
    await eventually(async () => !(await b.has('k1')) && !(await b.has('k2')), 'both jobs to complete');
    expect(runs.summary()).toEqual(['a:k1:aborted', 'b:k1:released', 'b:k2:released']);
  });
});
