/** Load figures of the whole bot (Slack, HTTP mode) against the local fakes, which run in the same process. */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { TEAM } from '../test/fakes/slack.js';
import { slackWorld } from '../test/slack/harness.js';

/** The bot against the fakes, with production's edit budget and progress interval (1 s), one DashScope stream per request. */
const world = (env: Record<string, string>, frameDelayMs: number) =>
  slackWorld({ SKIP_CLARIFICATION: 'true', ...env }, { frameDelayMs, progressIntervalMs: 1000, budget: 'production' });

let seq = 0;
const ts = () => `1800000000.${String(++seq).padStart(6, '0')}`;
/** A request in its own channel by its own person (the per-person limit would otherwise queue them). */
const mention = (channel: string, t: string) => ({ type: 'app_mention', user: `U${t.slice(-6)}`, text: '<@UBOT> a research topic', ts: t, channel, team: TEAM });

/** Waits for `check` to hold, polling every `everyMs`; false when `timeoutMs` passed first. */
export async function until(check: () => boolean, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return true;
}

export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/** End of the DashScope stream → last report message accepted; and end-to-end wall time over raw stream time. */
export async function overhead(runs = 15) {
  const w = await world({}, 2);
  const lags: number[] = [];
  const ratios: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const t = ts();
      const before = w.slack.files.length;
      const sent = Date.now();
      // A channel each: Slack allows about one message a second per channel, which back-to-back runs would meet.
      await w.slack.sendEvent(w.endpoint, mention(`C${i}`, t));
      await until(() => w.slack.files.length > before, 30_000);
      const stream = w.ds.streams.at(-1)!;
      const streamEnd = performance.timeOrigin + stream.end;
      const last = Math.max(...w.slack.calls.filter((c) => ['chat.postMessage', 'files.completeUploadExternal'].includes(c.method)).map((c) => c.at));
      lags.push(last - streamEnd);
      ratios.push((last - sent) / (stream.end - stream.start));
    }
  } finally {
    await w.close();
  }
  return { runs, lagP50: quantile(lags, 0.5), lagP99: quantile(lags, 0.99), ratioP50: quantile(ratios, 0.5) };
}

/**
 * Event acknowledgement latency while `concurrent` research runs stream. `env` changes the bot's configuration: with
 * `STORE_URL=redis://…` the bot runs as a cluster member (Redis store, BullMQ research queue, Redis thread locks).
 */
export async function ackLatency(concurrent = 50, deliveries = 200, env: Record<string, string> = {}) {
  const w = await world({ MAX_CONCURRENT_RESEARCH: String(concurrent), ...env }, 15);
  try {
    await Promise.all(Array.from({ length: concurrent }, (_, i) => w.slack.sendEvent(w.endpoint, mention(`C${i}`, ts()))));
    await until(() => w.ds.open >= concurrent, 10_000);
    const streaming = w.ds.open;
    const ms: number[] = [];
    // Replies in threads the bot does not run: acknowledged and dropped, as most channel traffic is.
    for (let i = 0; i < deliveries; i++) {
      const res = await w.slack.sendEvent(w.endpoint, { type: 'message', channel_type: 'channel', user: 'U9', text: 'chatter', ts: ts(), thread_ts: '1700000000.000001', channel: 'C1', team: TEAM });
      ms.push(res.ms);
    }
    return { streaming, p50: quantile(ms, 0.5), p99: quantile(ms, 0.99) };
  } finally {
    await w.close();
  }
}

/** chat.update calls per minute at peak, and 429s, with `concurrent` runs in one workspace. */
export async function editBudget(concurrent = 20) {
  const w = await world({ MAX_CONCURRENT_RESEARCH: String(concurrent) }, 10);
  try {
    const threads = Array.from({ length: concurrent }, () => ts());
    await Promise.all(threads.map((t, i) => w.slack.sendEvent(w.endpoint, mention(`C${i}`, t))));
    const finished = await until(() => threads.every((t, i) => w.slack.thread(`C${i}`, t).some((m) => /Research finished/.test(m.text))), 180_000);
    return { finished, peak: w.slack.peakUpdatesPerMinute(), rateLimited: w.slack.rateLimited['chat.update'] ?? 0, refused: w.slack.refused.length };
  } finally {
    await w.close();
  }
}

/** Resident memory and event-loop delay with `concurrent` runs streaming at once. */
export async function memory(concurrent = 200) {
  global.gc?.();
  const baseline = process.memoryUsage().rss;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  const w = await world({ MAX_CONCURRENT_RESEARCH: String(concurrent) }, 25);
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  try {
    loop.enable();
    await Promise.all(Array.from({ length: concurrent }, (_, i) => w.slack.sendEvent(w.endpoint, mention(`C${i}`, ts()))));
    await until(() => w.ds.maxOpen >= concurrent, 20_000);
    const streamed = w.ds.maxOpen;
    await new Promise((r) => setTimeout(r, 5000));
    loop.disable();
    return { streamed, baselineMb: baseline / 2 ** 20, peakMb: peak / 2 ** 20, loopP99Ms: loop.percentile(99) / 1e6 };
  } finally {
    clearInterval(sampler);
    await w.close();
  }
}
