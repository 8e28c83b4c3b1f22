import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * The Lua scripts of the Redis store. Each runs as one atomic step on the server (Redis runs one script at a time),
 * so a check and the writes that depend on it can never interleave with another process's.
 *
 * Every script that reaches a key it cannot name in advance (the old state's index when a thread changes state)
 * builds it from the prefix passed as ARGV[1], so the store suits a standalone Redis (or Sentinel), not Redis
 * Cluster. The key layout is documented in redis.ts.
 */

/** A script run by its SHA1 (EVALSHA), loaded with EVAL the first time a server does not know it (NOSCRIPT). */
export class Script {
  private readonly sha: string;

  constructor(private readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(client: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error)?.message).startsWith('NOSCRIPT')) throw err;
      return client.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}

/**
 * Compare-and-set of a thread, shared by `save` and `admit`. Arguments from `first`: the prefix, the thread key,
 * the version the writer read (absent counts as 0), the new state, requester, updatedAt, the JSON of the thread
 * with its new version, and the clarify and progress message ids ('' for none). Moves the thread between the
 * per-state and per-requester indexes and records its message ids (the first thread to claim an id keeps it).
 */
const SAVE = `
local function save(first)
  local p, key = ARGV[first], ARGV[first + 1]
  local expected, state, requester = tonumber(ARGV[first + 2]), ARGV[first + 3], ARGV[first + 4]
  local updated, data = ARGV[first + 5], ARGV[first + 6]
  local tk = p .. 't:' .. key
  local cur = redis.call('HMGET', tk, 'v', 'state', 'requester')
  local version = tonumber(cur[1]) or 0
  if version ~= expected then return false end
  if cur[2] then
    redis.call('ZREM', p .. 'state:' .. cur[2], key)
    redis.call('SREM', p .. 'user:' .. cur[2] .. ':' .. cur[3], key)
  end
  redis.call('HSET', tk, 'v', version + 1, 'state', state, 'requester', requester, 'at', updated, 'data', data)
  redis.call('ZADD', p .. 'state:' .. state, updated, key)
  redis.call('SADD', p .. 'user:' .. state .. ':' .. requester, key)
  redis.call('SADD', p .. 'states', state)
  for i = first + 7, first + 8 do
    if ARGV[i] ~= '' then redis.call('SET', p .. 'msg:' .. ARGV[i], key, 'NX') end
  end
  return true
end
`;

/** The number of ARGV entries `save` reads. */
export const SAVE_ARGS = 9;

/** save: 1 when written, 0 when the stored version was not the one read. */
export const saveScript = new Script(`${SAVE}
if save(1) then return 1 end
return 0
`);

/**
 * admit: the save arguments, then perUser, dailyLimit, countDaily ('1' or '0'), the day, and the busy states.
 * Counts the requester's other threads in the busy states, then the day's requests, then saves and counts the
 * request; answers 'ok', 'per-user', 'daily' or 'conflict'. A day's count expires two days after its last request.
 */
export const admitScript = new Script(`${SAVE}
local p, key, requester = ARGV[1], ARGV[2], ARGV[5]
local perUser, dailyLimit = tonumber(ARGV[${SAVE_ARGS + 1}]), tonumber(ARGV[${SAVE_ARGS + 2}])
local countDaily, day = ARGV[${SAVE_ARGS + 3}] == '1', ARGV[${SAVE_ARGS + 4}]
local busy = 0
for i = ${SAVE_ARGS + 5}, #ARGV do
  local set = p .. 'user:' .. ARGV[i] .. ':' .. requester
  busy = busy + redis.call('SCARD', set) - redis.call('SISMEMBER', set, key)
end
if busy >= perUser then return 'per-user' end
local daily = p .. 'daily:' .. day .. ':' .. requester
if countDaily and dailyLimit > 0 and (tonumber(redis.call('GET', daily)) or 0) >= dailyLimit then return 'daily' end
if not save(1) then return 'conflict' end
if countDaily then
  redis.call('INCR', daily)
  redis.call('EXPIRE', daily, 172800)
end
return 'ok'
`);

/**
 * inStates: ARGV the prefix, the lowest updatedAt ('-inf' for any) and the states. Answers flat triples
 * (updatedAt, version, data) read in one step, so a thread shows once, in the state it is in.
 */
export const inStatesScript = new Script(`
local p, since = ARGV[1], ARGV[2]
local out = {}
for i = 3, #ARGV do
  local found = redis.call('ZRANGEBYSCORE', p .. 'state:' .. ARGV[i], since, '+inf', 'WITHSCORES')
  for j = 1, #found, 2 do
    local h = redis.call('HMGET', p .. 't:' .. found[j], 'v', 'data')
    out[#out + 1] = found[j + 1]
    out[#out + 1] = h[1]
    out[#out + 1] = h[2]
  end
end
return out
`);

/** countByState: ARGV the prefix. Flat pairs (state, threads) for every state that has threads. */
export const countByStateScript = new Script(`
local p = ARGV[1]
local out = {}
for _, s in ipairs(redis.call('SMEMBERS', p .. 'states')) do
  local n = redis.call('ZCARD', p .. 'state:' .. s)
  if n > 0 then
    out[#out + 1] = s
    out[#out + 1] = n
  end
end
return out
`);

/**
 * feedback: KEYS the thread's feedback hash and the counts hash; ARGV the user and the value. Keeps the person's
 * latest click and moves their count from the old value to the new one (a repeated click counts once).
 */
export const feedbackScript = new Script(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if old ~= ARGV[2] then
  if old then redis.call('HINCRBY', KEYS[2], old, -1) end
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
end
return 1
`);

/**
 * hit: KEYS the bucket's sorted set; ARGV the cutoff (hits at or before it have left the window), the limit, now,
 * a unique member and the window in ms. Drops what left the window, counts, and records the hit only below the
 * limit; the set expires a window after its last hit.
 */
export const hitScript = new Script(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`);
