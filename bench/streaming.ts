/**
 * Fresh progress under load: 20 runs at once in one Slack workspace, under Slack's tiers (the fake's 429s) and the
 * bot's production budgets, measured twice in the same process: with message streaming, and with the workspace
 * answering `unknown_method` so progress falls back to today's edited message.
 */
import { TEAM, type FakeSlack } from '../test/fakes/slack.js';
import { slackWorld } from '../test/slack/harness.js';
import { quantile, until } from './load.js';

const VISIBLE = ['chat.startStream', 'chat.appendStream', 'chat.stopStream', 'chat.update'];
const METHODS = ['chat.startStream', 'chat.appendStream', 'chat.stopStream', 'chat.update', 'chat.postMessage', 'assistant.threads.setStatus'];

export interface Freshness {
  streaming: boolean;
  runs: number;
  /** Runs the workspace streams at once (the others show an edited message until a stream ends). */
  capacity: number;
  finished: number;
  /** Per run, the longest time its progress went without a visible update while it researched. */
  gapP50: number;
  gapMax: number;
  /** The same, counted only once every run's progress was up (streaming: as many streams open as the workspace keeps), until each run's report. */
  steadyP50: number;
  steadyMax: number;
  /** The same from one minute after the requests: past the opening burst (Tier 2 starts, the headers' edits). */
  laterP50: number;
  laterMax: number;
  /** From the request to the first progress anyone could see. */
  firstP50: number;
  firstMax: number;
  /** Accepted calls in the busiest 60 s, per method. */
  peak: Record<string, number>;
  rateLimited: Record<string, number>;
  refused: number;
}

let seq = 0;
const ts = () => `1900000000.${String(++seq).padStart(6, '0')}`;


/**
 * `runs` research runs at once, one per channel and person, each about `seconds` long (DashScope frames spaced out),
 * with the production progress interval (1 s) and the production Slack budgets.
 */
export async function freshness(streaming: boolean, runs = 20, seconds = Number(process.env.BENCH_STREAMING_SECONDS ?? 90)): Promise<Freshness> {
  const w = await slackWorld({ SKIP_CLARIFICATION: 'true', MAX_CONCURRENT_RESEARCH: String(runs) }, { streaming, budget: 'production', progressIntervalMs: 1000 });
  try {
    // ~10 frames a round and ~40 for the report: spaced so one run takes about `seconds`.
    w.ds.script = { ...w.ds.script, rounds: 8 };
    w.ds.frameDelayMs = Math.round((seconds * 1000) / 130);
    const threads = Array.from({ length: runs }, (_, i) => ({ channel: `C${100 + i}`, ts: ts(), user: `UB${i}`, sent: 0 }));
    for (const t of threads) t.sent = Date.now();
    await Promise.all(threads.map((t) => w.slack.sendEvent(w.endpoint, { type: 'app_mention', user: t.user, text: '<@UBOT> a research topic', ts: t.ts, channel: t.channel, team: TEAM })));
    const done = (t: (typeof threads)[number]) => references(w.slack, t.channel) !== undefined && w.slack.files.some((f) => f.channel === t.channel);
    await until(() => threads.every(done), (seconds + 240) * 1000, 100);
    // The final states (and the streams' final stops) go out after the report.
    await until(() => threads.every((t) => finalShown(w.slack, t.channel, streaming)), 120_000, 100);
    const gaps: number[] = [];
    const steady: number[] = [];
    const firsts: number[] = [];
    // Every run's progress is up: each progress message posted or stream open, and (streaming) as many streams open as
    // the workspace keeps (the rest stay edited messages until a stream ends).
    const firstOf = (t: (typeof threads)[number], methods: string[]) => w.slack.calls.find((c) => c.ok && c.args.channel === t.channel && methods.includes(c.method))?.at ?? Infinity;
    const opened = threads.map((t) => firstOf(t, ['chat.startStream'])).sort((a, b) => a - b);
    const wanted = Math.min(runs, w.bot.slack!.platform.streams.capacity());
    const allUp = Math.max(...threads.map((t) => firstOf(t, ['chat.startStream', 'chat.postMessage'])), streaming ? (opened[wanted - 1] ?? Infinity) : 0);
    const later: number[] = [];
    const minuteOn = Math.min(...threads.map((t) => t.sent)) + 60_000;
    for (const t of threads) {
      const end = references(w.slack, t.channel);
      if (end === undefined) continue;
      const times = visibleUpdates(w.slack, t.channel).filter((at) => at <= end);
      if (times.length === 0) continue;
      firsts.push(times[0]! - t.sent);
      times.push(end);
      // The longest gap between updates, counted from `from` on.
      const longestFrom = (from: number) => {
        let longest = 0;
        for (let i = 1; i < times.length; i++) if (times[i]! > from) longest = Math.max(longest, times[i]! - Math.max(times[i - 1]!, from));
        return longest;
      };
      gaps.push(longestFrom(0));
      if (end > allUp) steady.push(longestFrom(allUp));
      if (end > minuteOn) later.push(longestFrom(minuteOn));
    }
    return {
      streaming,
      runs,
      capacity: wanted,
      finished: threads.filter(done).length,
      gapP50: quantile(gaps, 0.5) / 1000,
      gapMax: Math.max(...gaps) / 1000,
      steadyP50: quantile(steady, 0.5) / 1000,
      steadyMax: Math.max(...steady) / 1000,
      laterP50: quantile(later, 0.5) / 1000,
      laterMax: Math.max(...later) / 1000,
      firstP50: quantile(firsts, 0.5) / 1000,
      firstMax: Math.max(...firsts) / 1000,
      peak: Object.fromEntries(METHODS.map((m) => [m, w.slack.peakPerMinute(m)])),
      rateLimited: { ...w.slack.rateLimited },
      refused: w.slack.refused.length,
    };
  } finally {
    await w.close();
  }
}

/** Accepted calls that changed a run's progress message (or streamed messages), and the first progress post. */
function visibleUpdates(slack: FakeSlack, channel: string): number[] {
  const calls = slack.calls.filter((c) => c.ok && c.args.channel === channel);
  const firstPost = calls.find((c) => c.method === 'chat.postMessage');
  return calls
    .filter((c) => VISIBLE.includes(c.method) || c === firstPost)
    .map((c) => c.at)
    .sort((a, b) => a - b);
}

/** When the references message was accepted: the report is out, the run's research is over. */
function references(slack: FakeSlack, channel: string): number | undefined {
  return slack.calls.find((c) => c.ok && c.method === 'chat.postMessage' && c.args.channel === channel && JSON.stringify(c.args.blocks ?? '').includes('## References'))?.at;
}

function finalShown(slack: FakeSlack, channel: string, streaming: boolean): boolean {
  const messages = [...slack.messages.values()].filter((m) => m.channel === channel);
  if (streaming && messages.some((m) => m.stream)) return messages.filter((m) => m.stream).every((m) => m.stream!.state !== 'streaming');
  return messages.some((m) => /Research finished/.test(m.text));
}

const s = (n: number) => `${n.toFixed(1)} s`;
const perMinute = (f: Freshness, methods: string[]) =>
  methods
    .filter((m) => f.peak[m])
    .map((m) => `${m.replace(/^chat\.|^assistant\.threads\./, '')} ${f.peak[m]}`)
    .join(', ');
const limited = (f: Freshness) => Object.values(f.rateLimited).reduce((a, b) => a + b, 0);

/** Rows for `npm run bench`: streaming beside today's edited message, each measured here and now. */
export async function streamingRows(runs = 20): Promise<[string, string, string][]> {
  const stream = await freshness(true, runs);
  const edit = await freshness(false, runs);
  const label = (f: Freshness) => (f.streaming ? 'streamed' : 'edited (fallback)');
  const rows: [string, string, string][] = [];
  for (const f of [stream, edit]) {
    const unfinished = f.finished < f.runs ? ` (${f.finished}/${f.runs} finished)` : '';
    rows.push([`Longest stretch without a visible progress update, ${f.runs} runs, ${label(f)}${unfinished}`, `p50 ${s(f.gapP50)}, max ${s(f.gapMax)}`, '≤ 10 s']);
    rows.push([`  the same once all ${f.runs} show their progress${f.streaming ? ` (${f.capacity} as streams, the rest edited)` : ''}`, `p50 ${s(f.steadyP50)}, max ${s(f.steadyMax)}`, '≤ 10 s']);
    rows.push([`  the same from one minute after the requests`, `p50 ${s(f.laterP50)}, max ${s(f.laterMax)}`, '≤ 10 s']);
    rows.push([`Request → first progress visible, ${f.runs} runs, ${label(f)}`, `p50 ${s(f.firstP50)}, max ${s(f.firstMax)}`, '-']);
    rows.push([`Accepted calls/min at peak, ${label(f)}`, perMinute(f, METHODS), 'within tiers']);
    rows.push([`429s, ${label(f)}`, `${limited(f)} × 429 (${JSON.stringify(f.rateLimited)}), ${f.refused} refused`, '0 × 429']);
  }
  return rows;
}

// `npx tsx bench/streaming.ts`: this figure alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await streamingRows();
  for (const [name, value, target] of rows) process.stdout.write(`${name} | ${value} | ${target}\n`);
  process.exit(0);
}
