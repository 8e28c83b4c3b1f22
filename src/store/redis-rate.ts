import type { Redis } from 'ioredis';
import type { SharedRate } from '../core/ports/rate.js';
import { openRedis, whenReady, type RedisConnectOptions } from './redis-connection.js';
import { Script } from './redis-scripts.js';

/**
 * One take from a token bucket, as one atomic step on the server. KEYS[1]: the bucket's hash; ARGV: perMinute,
 * burst. The hash holds `t` (tokens, fractional), `at` (when they were counted, ms), `until` (paused until, ms) and
 * `h` (ms to refill from empty, for a pause's expiry). Time is Redis's own (TIME), so the processes' clocks do not
 * matter. A missing key is a full bucket, so the key expires once it would have refilled to `burst` anyway: an idle
 * bucket leaves nothing behind, and expiring changes nothing. Answers 0 (taken) or the ms until a token is there.
 */
const TAKE = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local rate = tonumber(ARGV[1]) / 60000
local burst = tonumber(ARGV[2])
local s = redis.call('HMGET', KEYS[1], 't', 'at', 'until')
local tokens, at, paused = tonumber(s[1]), tonumber(s[2]), tonumber(s[3]) or 0
if now < paused then return paused - now end
if tokens == nil or at == nil then tokens, at = burst, now end
if now > at then
  tokens = tokens + (now - at) * rate
  at = now
end
if tokens > burst then tokens = burst end
if tokens < 1 then return math.max(1, math.ceil((1 - tokens) / rate)) end
tokens = tokens - 1
local full = math.ceil(burst / rate)
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', at, 'h', full)
redis.call('PEXPIRE', KEYS[1], math.max(0, at - now) + math.ceil((burst - tokens) / rate) + 1000)
return 0
`;

/**
 * A pause of a bucket (a 429's Retry-After): no token until then, and the bucket refills from empty after it. A
 * shorter pause than one already there changes nothing. ARGV: ms.
 */
const PAUSE = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local untilMs = now + tonumber(ARGV[1])
local s = redis.call('HMGET', KEYS[1], 'until', 'h')
if (tonumber(s[1]) or 0) >= untilMs then return 0 end
local full = tonumber(s[2]) or 60000
redis.call('HSET', KEYS[1], 't', '0', 'at', untilMs, 'until', untilMs)
redis.call('PEXPIRE', KEYS[1], untilMs - now + full + 1000)
return 1
`;

const takeScript = new Script(TAKE);
const pauseScript = new Script(PAUSE);

export interface RedisSharedRateOptions extends RedisConnectOptions {
  /** Key prefix, as the store's (default `drb:`); a bucket's key is `{prefix}rate:{bucket}`. */
  prefix?: string;
  /** How long a take waits for the connection (at start, or while it reconnects) before it rejects (default 1000 ms). */
  readyTimeoutMs?: number;
}

/**
 * The shared rate budget on Redis: one token bucket per bucket name, each take one Lua script (TAKE above), so
 * every process of a deployment draws from the same buckets. While Redis is unreachable every call rejects (the
 * platforms then fall back to their own budgets).
 */
export class RedisSharedRate implements SharedRate {
  readonly client: Redis;
  readonly prefix: string;
  private readonly owned: boolean;
  private readonly readyMs: number;

  /**
   * `target`: a `redis://` or `rediss://` URL, or a client the caller made (and closes: `close()` leaves it open;
   * give it `failFastOptions()` so an outage fails commands instead of queueing them).
   */
  constructor(target: string | Redis, opts: RedisSharedRateOptions = {}) {
    this.prefix = opts.prefix ?? 'drb:';
    this.readyMs = opts.readyTimeoutMs ?? 1000;
    this.owned = typeof target === 'string';
    this.client = typeof target === 'string' ? openRedis(target, opts) : target;
  }

  async take(bucket: string, perMinute: number, burst: number): Promise<number> {
    if (!(perMinute > 0) || !(burst >= 1)) throw new Error(`rate bucket ${bucket}: perMinute must be above 0 and burst at least 1`);
    await this.ready();
    return Number(await takeScript.run(this.client, [this.key(bucket)], [perMinute, Math.floor(burst)]));
  }

  async pause(bucket: string, ms: number): Promise<void> {
    if (!(ms > 0)) return;
    await this.ready();
    await pauseScript.run(this.client, [this.key(bucket)], [Math.ceil(ms)]);
  }

  /** Closes the connection it opened itself (a client passed in stays open). */
  async close(): Promise<void> {
    if (!this.owned) return;
    await this.client.quit().catch(() => this.client.disconnect());
  }

  key(bucket: string): string {
    return `${this.prefix}rate:${bucket}`;
  }

  private async ready(): Promise<void> {
    if (this.client.status !== 'ready') await whenReady(this.client, this.readyMs);
  }
}
