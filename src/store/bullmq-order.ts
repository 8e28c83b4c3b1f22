import type { Job } from 'bullmq';
import type { ThreadKey } from '../core/ports/chat.js';

/**
 * The pure part of the BullMQ research queue: job ids, the order jobs will start in, and the fairness priority.
 *
 * BullMQ takes jobs in this order (moveToActive): first the `wait` list, popped from its right end, which holds
 * only jobs put back in front of everyone (a stalled job of a dead process, a job handed back at a drain
 * deadline: both RPUSHed); then the `prioritized` sorted set, lowest priority number first and, within one
 * priority, in the order they were added.
 */

/** BullMQ's highest priority number (2^21 - 1). */
export const PRIORITY_LIMIT = 2 ** 21 - 1;

/**
 * BullMQ refuses custom job ids that are integers or contain ':' (thread keys do); so the id is `t` followed by
 * the key with '%' and ':' percent-encoded. `decodeJobId(encodeJobId(k)) === k` for every string.
 */
export function encodeJobId(key: ThreadKey): string {
  return `t${key.replace(/%/g, '%25').replace(/:/g, '%3A')}`;
}

export function decodeJobId(id: string): ThreadKey {
  return id.slice(1).replace(/%(25|3A)/g, (_, code: string) => (code === '25' ? '%' : ':'));
}

export interface QueuedRun {
  key: ThreadKey;
  user: string;
  /** BullMQ priority (1 is taken first; 0 for a job put back in front). */
  priority: number;
}

/** The cluster's queue at one instant (read in one script, so consistent). */
export interface QueueSnapshot {
  /** The wait list in the order it is taken: runs put back in front (stalled, handed back). */
  front: QueuedRun[];
  /** Prioritized runs in the order they are taken. */
  prioritized: QueuedRun[];
  /** Runs going on somewhere in the cluster. */
  active: QueuedRun[];
}

/**
 * Reads wait (KEYS[1]), prioritized (KEYS[2]) and active (KEYS[3]) with each job's data and priority; ARGV[1] is
 * the job key prefix (`<prefix>:<queue>:`). Ids starting with "0:" are BullMQ's legacy markers, not jobs.
 */
export const SNAPSHOT_SCRIPT = `
local function add(out, id)
  if string.sub(id, 1, 2) == '0:' then return end
  local h = redis.call('HMGET', ARGV[1] .. id, 'data', 'priority')
  out[#out + 1] = id
  out[#out + 1] = h[1] or ''
  out[#out + 1] = h[2] or '0'
end
local front, prioritized, active = {}, {}, {}
local wait = redis.call('LRANGE', KEYS[1], 0, -1)
for i = #wait, 1, -1 do add(front, wait[i]) end
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do add(prioritized, id) end
for _, id in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do add(active, id) end
return {front, prioritized, active}
`;

/** Turns the script's answer into runs. */
export function parseSnapshot(raw: unknown): QueueSnapshot {
  const [front, prioritized, active] = (raw as string[][]).map(runs);
  return { front: front ?? [], prioritized: prioritized ?? [], active: active ?? [] };
}

function runs(flat: string[]): QueuedRun[] {
  const out: QueuedRun[] = [];
  for (let i = 0; i + 2 < flat.length; i += 3) {
    out.push({ key: decodeJobId(flat[i]!), user: userOf(flat[i + 1]!), priority: Number(flat[i + 2]) || 0 });
  }
  return out;
}

function userOf(data: string): string {
  try {
    return String((JSON.parse(data) as { user?: unknown }).user ?? '');
  } catch {
    return '';
  }
}

/** The waiting runs in the order they will start. */
export function waitingOrder(s: QueueSnapshot): QueuedRun[] {
  return [...s.front, ...s.prioritized];
}

/**
 * Fairness between people, as BullMQ allows it (it has no per-group round robin outside BullMQ Pro): a run's
 * priority is one more than the runs its person already has waiting or going across the cluster, and never
 * ahead of that person's own waiting runs. A person's first run is priority 1, their second 2, and so on, so
 * everyone's first run starts before anyone's second; among equals, first come first served. Priorities are
 * fixed when the run is added (not lowered as the person's earlier runs finish).
 */
export function priorityFor(user: string, s: QueueSnapshot): number {
  const mine = (runs: QueuedRun[]) => runs.filter((r) => r.user === user);
  const waiting = [...mine(s.front), ...mine(s.prioritized)];
  const latest = Math.max(0, ...waiting.map((r) => r.priority));
  return Math.min(PRIORITY_LIMIT, Math.max(waiting.length + mine(s.active).length + 1, latest + 1));
}

/** The place (1-based) a run added now by `user` would take, or undefined when it would start at once. */
export function placeIfAdded(user: string, s: QueueSnapshot, concurrency: number): number | undefined {
  if (s.active.length < concurrency && s.front.length === 0 && s.prioritized.length === 0) return undefined;
  const p = priorityFor(user, s);
  return s.front.length + s.prioritized.filter((r) => r.priority <= p).length + 1;
}

/** What a research job carries: whose run it is (for fairness). */
export interface JobData {
  user: string;
}

/** A job running in this process. */
export interface Run {
  job: Job<JobData>;
  ac: AbortController;
  /** abortAll: give the job back to the queue when execute returns. */
  handBack: boolean;
  /** BullMQ could not renew the lock: the job is someone else's now. */
  lost: boolean;
}
