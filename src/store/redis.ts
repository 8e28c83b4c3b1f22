import { randomUUID } from 'node:crypto';
import { ReplyError, type Redis } from 'ioredis';
import type { Feedback } from '../core/ports/chat.js';
import type { Logger } from '../core/ports/logger.js';
import { StoreUnavailableError, type Admission, type AdmissionRule, type ThreadStore } from '../core/ports/store.js';
import type { RunState, ThreadState } from '../core/ports/thread.js';
import { openRedis, whenReady } from './redis-connection.js';
import { admitScript, countByStateScript, feedbackScript, hitScript, inStatesScript, saveScript } from './redis-scripts.js';

/**
 * The store on Redis (`STORE_URL=redis://HOST:PORT/DB`, `rediss://` for TLS), for several bot processes sharing
 * one conversation state. Every key starts with the prefix (default `drb:`, written P below):
 *
 * | key                         | type       | holds                                                                |
 * | --------------------------- | ---------- | -------------------------------------------------------------------- |
 * | P t:{thread}                | hash       | v (version), state, requester, at (updatedAt), data (the JSON)       |
 * | P state:{state}             | sorted set | thread keys in that state, scored by updatedAt (inStates)            |
 * | P states                    | set        | every state ever written (countByState reads each one's index)       |
 * | P user:{state}:{requester}  | set        | the requester's threads in that state (admission's busy count)       |
 * | P msg:{messageId}           | string     | the thread of a bot message (clarify or progress), first one kept    |
 * | P ev:{eventId}              | string     | a claimed event, expiring after the claim's ttl (SET NX PX)          |
 * | P daily:{day}:{requester}   | string     | requests counted that UTC day, expiring two days after the last one  |
 * | P fb:{thread}               | hash       | user → latest feedback value                                         |
 * | P fbcount                   | hash       | value → people whose latest click on a thread is that value          |
 * | P spend:{month}             | string     | the month's estimated spend in yuan (INCRBYFLOAT)                    |
 * | P page:{id}                 | hash       | data, created, exp (expiresAt); the key expires with the page        |
 * | P hit:{bucket}              | sorted set | the bucket's hits in the window, scored by time; expires a window on |
 *
 * State and requester come first in composite keys and are never empty of meaning: a state has no colon and a
 * day is YYYY-MM-DD, so `user:` and `daily:` keys cannot collide whatever the requester's id holds.
 *
 * Atomicity: claimEvent is one SET NX PX; save, admit, inStates, countByState, saveFeedback and hit are Lua
 * scripts (redis-scripts.ts), each one atomic step on the server; savePage is one MULTI. A save moves the thread
 * between the indexes in the same script as the compare-and-set, so the indexes never disagree with the threads.
 *
 * While Redis is unreachable every method but ping rejects (after waiting at most `connectTimeoutMs` for the
 * connection), so the engine's StoreGuard reports the store as not ready; ping answers false within `pingTimeoutMs`.
 */
export class RedisStore implements ThreadStore {
  readonly client: Redis;
  readonly prefix: string;
  private readonly owned: boolean;
  private readonly readyMs: number;
  private readonly pingMs: number;
  private connecting: Promise<void> | undefined;

  /**
   * `target`: a `redis://` or `rediss://` URL, or a client the caller made (and closes: `close()` leaves it open;
   * give it `failFastOptions()` so an outage fails commands instead of queueing them).
   */
  constructor(target: string | Redis, opts: RedisStoreOptions = {}) {
    this.prefix = opts.prefix ?? 'drb:';
    this.readyMs = opts.connectTimeoutMs ?? 2000;
    this.pingMs = opts.pingTimeoutMs ?? 1000;
    this.owned = typeof target === 'string';
    this.client = typeof target === 'string' ? openRedis(target, opts) : target;
  }

  async claimEvent(id: string, ttlMs: number, _now: number): Promise<boolean> {
    const ttl = Math.max(1, Math.ceil(ttlMs));
    return (await this.call(() => this.client.set(this.key('ev:', id), '1', 'PX', ttl, 'NX'))) === 'OK';
  }

  async get(key: string): Promise<ThreadState | undefined> {
    const [version, data] = await this.call(() => this.client.hmget(this.key('t:', key), 'v', 'data'));
    return data ? thread(version ?? null, data) : undefined;
  }

  async save(state: ThreadState): Promise<ThreadState | undefined> {
    const saved = { ...state, version: state.version + 1 };
    const written = await this.call(() => saveScript.run(this.client, [], this.saveArgs(state, saved)));
    return written === 1 ? saved : undefined;
  }

  async admit(state: ThreadState, rule: AdmissionRule): Promise<Admission> {
    const saved = { ...state, version: state.version + 1 };
    const args = [...this.saveArgs(state, saved), rule.perUser, rule.dailyLimit, rule.countDaily ? '1' : '0', rule.day, ...new Set(rule.busy)];
    const outcome = await this.call(() => admitScript.run(this.client, [], args));
    switch (outcome) {
      case 'ok':
        return { ok: true, state: saved };
      case 'per-user':
      case 'daily':
      case 'conflict':
        return { ok: false, reason: outcome };
      default:
        throw new Error(`Redis admission answered ${String(outcome)}`);
    }
  }

  async inStates(states: RunState[], updatedSince?: number): Promise<ThreadState[]> {
    const wanted = [...new Set(states)];
    if (wanted.length === 0) return [];
    const since = updatedSince === undefined ? '-inf' : String(updatedSince);
    const flat = (await this.call(() => inStatesScript.run(this.client, [], [this.prefix, since, ...wanted]))) as (string | null)[];
    const found: { at: number; state: ThreadState }[] = [];
    for (let i = 0; i + 2 < flat.length; i += 3) {
      const data = flat[i + 2];
      if (data) found.push({ at: Number(flat[i]), state: thread(flat[i + 1] ?? null, data) });
    }
    found.sort((a, b) => a.at - b.at || (a.state.key < b.state.key ? -1 : a.state.key > b.state.key ? 1 : 0));
    return found.map((f) => f.state);
  }

  async hit(bucket: string, limit: number, windowMs: number, now: number): Promise<boolean> {
    const args = [now - windowMs, limit, now, `${now}:${randomUUID()}`, Math.max(1, Math.ceil(windowMs))];
    return (await this.call(() => hitScript.run(this.client, [this.key('hit:', bucket)], args))) === 1;
  }

  async runsOn(user: string, day: string): Promise<number> {
    return Number((await this.call(() => this.client.get(this.key('daily:', `${day}:${user}`)))) ?? 0);
  }

  async saveFeedback(thread: string, user: string, value: Feedback, _now: number): Promise<void> {
    await this.call(() => feedbackScript.run(this.client, [this.key('fb:', thread), this.key('fbcount')], [user, value]));
  }

  async countFeedback(): Promise<Record<Feedback, number>> {
    const stored = await this.call(() => this.client.hgetall(this.key('fbcount')));
    const counts: Record<Feedback, number> = { good: 0, bad: 0 };
    for (const [value, n] of Object.entries(stored)) counts[value as Feedback] = Number(n);
    return counts;
  }

  async addSpend(month: string, yuan: number): Promise<void> {
    await this.call(() => this.client.incrbyfloat(this.key('spend:', month), yuan));
  }

  async spentIn(month: string): Promise<number> {
    return Number((await this.call(() => this.client.get(this.key('spend:', month)))) ?? 0);
  }

  /** The key lives for the page's lifetime (`expiresAt - createdAt`); `getPage` also checks `expiresAt` itself. */
  async savePage(id: string, data: string, createdAt: number, expiresAt?: number): Promise<void> {
    const key = this.key('page:', id);
    const fields: Record<string, string | number> = { data, created: createdAt };
    if (expiresAt !== undefined) fields.exp = expiresAt;
    const results = await this.call(() => {
      const tx = this.client.multi().del(key).hset(key, fields);
      if (expiresAt !== undefined) tx.pexpire(key, Math.max(1, Math.ceil(expiresAt - createdAt)));
      return tx.exec();
    });
    const failed = results?.find(([err]) => err)?.[0];
    if (!results || failed) throw failed ?? new Error('Redis discarded the page write');
  }

  async getPage(id: string, now: number): Promise<string | undefined> {
    const [data, exp] = await this.call(() => this.client.hmget(this.key('page:', id), 'data', 'exp'));
    if (data == null || (exp != null && Number(exp) <= now)) return undefined;
    return data;
  }

  async threadOfMessage(messageId: string): Promise<string | undefined> {
    return (await this.call(() => this.client.get(this.key('msg:', messageId)))) ?? undefined;
  }

  async countByState(): Promise<Partial<Record<RunState, number>>> {
    const flat = (await this.call(() => countByStateScript.run(this.client, [], [this.prefix]))) as (string | number)[];
    const counts: Partial<Record<RunState, number>> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) counts[flat[i] as RunState] = Number(flat[i + 1]);
    return counts;
  }

  /** True when Redis answers within `pingTimeoutMs`; false otherwise, never an exception. */
  async ping(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.pingMs)));
    const answer = this.call(() => this.client.ping()).then(
      (pong) => pong === 'PONG',
      () => false,
    );
    try {
      return await Promise.race([answer, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the connection the store opened (QUIT, or a plain disconnect when Redis is unreachable). */
  async close(): Promise<void> {
    if (!this.owned || this.client.status === 'end') return;
    if (this.client.status !== 'ready') return this.client.disconnect();
    let timer: NodeJS.Timeout | undefined;
    const ended = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 1000);
      this.client.once('end', resolve);
    });
    await this.client.quit().catch(() => this.client.disconnect());
    await ended;
    clearTimeout(timer);
  }

  private key(kind: string, id = ''): string {
    return `${this.prefix}${kind}${id}`;
  }

  private saveArgs(state: ThreadState, saved: ThreadState): (string | number)[] {
    return [
      this.prefix,
      state.key,
      state.version,
      state.state,
      state.requester,
      state.updatedAt,
      JSON.stringify(saved),
      state.clarifyMessageId ?? '',
      state.progressMessageId ?? '',
    ];
  }

  /** Runs a command once the client is connected; commands issued together share one wait. */
  private async call<T>(command: () => Promise<T>): Promise<T> {
    try {
      if (this.client.status !== 'ready') {
        this.connecting ??= whenReady(this.client, this.readyMs).finally(() => (this.connecting = undefined));
        await this.connecting;
      }
      return await command();
    } catch (err) {
      // Redis's own answer to a command (a script's error) is a bug, not an outage; anything else is the connection.
      if (err instanceof ReplyError) throw err;
      throw new StoreUnavailableError(`Redis: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
  }
}

export interface RedisStoreOptions {
  /** Put before every key (default `drb:`), so several bots or test runs can share one Redis database. */
  prefix?: string;
  /** How long a command waits for the connection before it fails (default 2000 ms; also ioredis's connectTimeout). */
  connectTimeoutMs?: number;
  /** How long a connected server may take to answer a command (default 5000 ms). */
  commandTimeoutMs?: number;
  /** How long ping waits for an answer before it says false (default 1000 ms). */
  pingTimeoutMs?: number;
  log?: Logger;
}

function thread(version: string | null, data: string): ThreadState {
  return { ...(JSON.parse(data) as ThreadState), version: Number(version) };
}
