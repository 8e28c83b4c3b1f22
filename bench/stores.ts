/**
 * Store operations per second, SQLite beside Redis in the same run: the operations the engine makes on every event
 * (claimEvent, get, save), on every admitted request (admit) and on every follow-up question (hit), each run a fixed
 * number of times with a few in flight at once, as the engine's concurrent handlers would issue them.
 *
 * SQLite: a temporary file, opened by SqliteStore as the bot opens it (WAL, synchronous = NORMAL), deleted afterwards.
 * Redis: `BENCH_REDIS_URL` (default the local redis://127.0.0.1:6379), every key under a prefix unique to this run,
 * deleted afterwards. Without a reachable Redis its figures are "skipped", not a failure of the bench.
 */
import { deleteKeys as deleteUnder, redisReachable as reachable } from '../test/store/redis-probe.js';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { AdmissionRule, ThreadStore } from '../src/core/ports/store.js';
import { RUNNING_STATES, type ThreadState } from '../src/core/ports/thread.js';
import { RedisStore } from '../src/store/redis.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { ackLatency } from './load.js';

export const BENCH_REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The Redis database the bot's own figures run on (emptied before and after): the bot's keys have no run prefix. */
export const BOT_REDIS_DB = 12;

/** `BENCH_REDIS_URL` on database `db`. */
export function redisDbUrl(db: number, url = BENCH_REDIS_URL): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** What a Redis row says when there is no Redis to measure. */
export function redisSkipped(url = BENCH_REDIS_URL): string {
  const u = new URL(url);
  return `skipped: no Redis at ${u.hostname}:${u.port || 6379}`;
}

/** Whether Redis answers PING soon (the tests' probe). */
export function redisReachable(url = BENCH_REDIS_URL): Promise<boolean> {
  return reachable(url);
}

/** Empties one Redis database (the one the bot's figures run on). */
export async function flushRedisDb(url: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.flushdb();
  } finally {
    client.disconnect();
  }
}


export const STORE_OPS = ['claimEvent', 'get', 'save', 'admit', 'hit'] as const;
export type StoreOp = (typeof STORE_OPS)[number];

export interface OpFigure {
  opsPerSec: number;
  /** How many of the measured calls answered as the engine hopes (claimed, found, written, admitted, counted). */
  ok: number;
  count: number;
}

const HOUR_MS = 3_600_000;
const DAY = '2026-11-21';
const RULE: AdmissionRule = { busy: RUNNING_STATES, perUser: 3, dailyLimit: 20, countDaily: true, day: DAY };
/** Text of a thread that has had its question answered: the stored JSON is about 1 KiB, as in a real thread. */
const QUESTION = 'Which aspects matter most to you: cost per kWh, cycle life, safety under abuse, or manufacturing scale-up? '.repeat(3);
const ANSWER = 'Mostly cycle life and safety under abuse, for grid storage in warm climates; cost matters less. '.repeat(3);

function thread(key: string, requester: string, over: Partial<ThreadState> = {}): ThreadState {
  const now = Date.now();
  return {
    key,
    platform: 'slack',
    channel: 'C0123456789',
    requester,
    topic: 'solid-state batteries for grid storage',
    lang: 'en',
    state: 'awaiting_answer',
    question: QUESTION,
    answer: ANSWER,
    step: 1,
    attempts: 1,
    notices: [],
    round: 1,
    version: 0,
    createdAt: now,
    updatedAt: now,
    clarifyMessageId: `${key}:clarify`,
    ...over,
  };
}

/** `count` calls of `op(i, worker)`, `inFlight` at a time; ops per second and how many answered true. */
async function drive(count: number, inFlight: number, first: number, op: (i: number, worker: number) => Promise<boolean>): Promise<OpFigure> {
  let next = first;
  let ok = 0;
  const end = first + count;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async (_, worker) => {
      while (next < end) if (await op(next++, worker)) ok++;
    }),
  );
  return { opsPerSec: count / ((performance.now() - started) / 1000), ok, count };
}

/** Each operation on `store`: a warm-up of `warmup` calls, then `count` calls measured. */
async function measureStore(store: ThreadStore, count: number, inFlight: number, warmup: number): Promise<Record<StoreOp, OpFigure>> {
  const run = randomUUID().slice(0, 8);
  const ops: Record<StoreOp, (i: number, worker: number) => Promise<boolean>> = {} as never;

  // A delivery's event id, claimed once for the engine's day of dedup.
  ops.claimEvent = (i) => store.claimEvent(`Ev${run}${i}`, 86_400_000, Date.now());

  // A thread looked up by key, among 1,000 stored.
  const stored: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const t = thread(`slack:C0123456789:get${run}.${i}`, `Uget${i}`);
    if (!(await store.save(t))) throw new Error('could not seed a thread');
    stored.push(t.key);
  }
  ops.get = async (i) => (await store.get(stored[i % stored.length]!)) !== undefined;

  // A versioned write of an existing thread, each worker on a thread of its own (as the thread lock has it).
  const mine: ThreadState[] = [];
  for (let w = 0; w < inFlight; w++) {
    const saved = await store.save(thread(`slack:C0123456789:save${run}.${w}`, `Usave${w}`));
    if (!saved) throw new Error('could not seed a thread');
    mine.push(saved);
  }
  ops.save = async (i, w) => {
    const cur = mine[w]!;
    const saved = await store.save({ ...cur, state: i % 2 ? 'researching' : 'queued', updatedAt: Date.now(), progressMessageId: `${cur.key}:progress` });
    if (saved) mine[w] = saved;
    return saved !== undefined;
  };

  // A new request: the requester's running threads and the day's count checked, the thread written, the day counted.
  ops.admit = async (i) => (await store.admit(thread(`slack:C0123456789:admit${run}.${i}`, `Uadmit${run}${i}`, { state: 'queued', step: 2 }), RULE)).ok;

  // A follow-up question counted in its asker's hourly window (1,000 askers, 20 an hour: every call is counted).
  ops.hit = (i) => store.hit(`followup:slack:Uhit${run}${i % 1000}`, 20, HOUR_MS, Date.now());

  const figures = {} as Record<StoreOp, OpFigure>;
  for (const name of STORE_OPS) {
    // Warm-up and measured calls take different indexes, so every claim and admission is a new one.
    await drive(warmup, inFlight, 10_000_000, ops[name]);
    figures[name] = await drive(count, inFlight, 0, ops[name]);
  }
  return figures;
}

export interface StoreOpsResult {
  count: number;
  inFlight: number;
  sqlite: Record<StoreOp, OpFigure>;
  /** undefined when Redis is unreachable (`redisSkipped()`). */
  redis?: Record<StoreOp, OpFigure>;
}

/** Both stores' operations per second, SQLite first, then Redis (when reachable). */
export async function storeOps(count = 10_000, inFlight = 16, warmup = 500): Promise<StoreOpsResult> {
  const dir = mkdtempSync(join(tmpdir(), 'drb-bench-'));
  const sqliteStore = new SqliteStore(join(dir, 'bot.db'));
  let sqlite: Record<StoreOp, OpFigure>;
  try {
    sqlite = await measureStore(sqliteStore, count, inFlight, warmup);
  } finally {
    await sqliteStore.close();
    rmSync(dir, { recursive: true, force: true });
  }

  if (!(await redisReachable())) return { count, inFlight, sqlite };
  const prefix = `drbbench:${process.pid}:${randomUUID().slice(0, 8)}:`;
  const redisStore = new RedisStore(BENCH_REDIS_URL, { prefix });
  try {
    return { count, inFlight, sqlite, redis: await measureStore(redisStore, count, inFlight, warmup) };
  } finally {
    await redisStore.close();
    await deleteUnder(prefix, BENCH_REDIS_URL);
  }
}

/**
 * A row per operation for `npm run bench`, both stores in its measured column ("SQLite …, Redis …": no `|` in a
 * cell, so the table stays three columns when pasted into Markdown).
 */
export async function storeRows(): Promise<[string, string, string][]> {
  const r = await storeOps();
  const rate = (f: OpFigure) => `${Math.round(f.opsPerSec).toLocaleString('en-US')}/s${f.ok === f.count ? '' : ` (${f.ok} of ${f.count} ok)`}`;
  return STORE_OPS.map((op) => [
    `Store ops/s, ${op} (${r.count.toLocaleString('en-US')} calls, ${r.inFlight} in flight)`,
    `SQLite ${rate(r.sqlite[op])}, Redis ${r.redis ? rate(r.redis[op]) : redisSkipped()}`,
    '≥ 1,000/s each',
  ]);
}

/**
 * Event acknowledgement with the Redis store, as the bot runs on it (cluster member: BullMQ research queue, Redis
 * locks and shared rate budgets), on database `BOT_REDIS_DB` emptied before and after; undefined without Redis.
 */
export async function ackLatencyOnRedis(concurrent = 50, deliveries = 200): Promise<Awaited<ReturnType<typeof ackLatency>> | undefined> {
  if (!(await redisReachable())) return undefined;
  const url = redisDbUrl(BOT_REDIS_DB);
  await flushRedisDb(url);
  try {
    return await ackLatency(concurrent, deliveries, { STORE_URL: url });
  } finally {
    await flushRedisDb(url);
  }
}
