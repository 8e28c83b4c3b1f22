import { afterEach, describe, expect, it } from 'vitest';
import { sampleReport } from '../fakes/dashscope-script.js';
import type { FakeMessage } from '../fakes/slack.js';
import { ACTIONS } from '../../src/platforms/slack/blocks.js';
import { findButton, mentionEvent, nextTs, slackWorld, type SlackWorld } from './harness.js';

let w: SlackWorld;
afterEach(() => w?.close());

/**
 * What a person sees of a message once, as text: for a streamed message its plan title, each task's title and details
 * and the streamed text; for a posted one its markdown and section text.
 */
function seen(m: FakeMessage): string {
  if (m.stream) {
    const tasks = [...m.stream.tasks.values()].map((t) => `${t.title}\n${t.details}`);
    return [m.stream.title ?? '', ...tasks, m.stream.markdown].join('\n');
  }
  return m.blocks
    .map((b) => (b.type === 'markdown' ? String(b.text) : b.type === 'section' ? String((b.text as { text: string }).text) : ''))
    .join('\n');
}

const seenIn = (w: SlackWorld, ts: string) => w.slack.thread('C1', ts).map(seen).join('\n');
const count = (text: string, needle: RegExp) => text.match(new RegExp(needle.source, 'g'))?.length ?? 0;
/** The report's paragraphs and headings, as recognisable pieces (citations are linked differently once rendered). */
const pieces = (report: string) =>
  report
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('|'))
    .map((l) => l.split('[[')[0]!.trim());
const escapeRe = (s: string) => new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
const finished = (w: SlackWorld, ts: string) => w.slack.streams('C1', ts).at(-1)?.stream?.state === 'stopped' && w.slack.files.length > 0;

describe('Slack streamed progress (chat.startStream / appendStream / stopStream)', () => {
  it('a research that outlives several stream lifetimes shows every round and every paragraph exactly once', async () => {
    // The fake ends streams 2 s after they start; the bot rolls over after 1 s and once 3,000 characters are in one.
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' }, { streaming: true, frameDelayMs: 25, stream: { lifetimeMs: 1000, maxSegmentChars: 3000 } });
    w.slack.streamLifetimeMs = 2000;
    const report = sampleReport(6, 3);
    w.ds.script = { ...w.ds.script, rounds: 6, report, chunk: 60 };
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('AI in education', { ts }));
    await expect.poll(() => finished(w, ts), { timeout: 30_000 }).toBe(true);

    const streams = w.slack.streams('C1', ts);
    expect(streams.length).toBeGreaterThanOrEqual(4);
    // Every stream was ended by the bot, each before its lifetime was up.
    expect(streams.every((m) => m.stream!.state === 'stopped')).toBe(true);
    for (const m of streams) expect(m.stream).toMatchObject({ recipient_user_id: 'U1', recipient_team_id: 'T1', task_display_mode: 'plan' });
    const all = seenIn(w, ts);
    for (let r = 1; r <= 6; r++) expect(count(all, new RegExp(`search query for round ${r}\\b`)), `round ${r}`).toBe(1);
    for (const piece of pieces(report)) expect(count(all, escapeRe(piece)), piece).toBe(1);
    // The rolled-over messages say where their open tasks went on.
    expect(streams.slice(0, -1).some((m) => [...m.stream!.tasks.values()].some((t) => /continued below/.test(t.title)))).toBe(true);
    // The report is in the streams, not posted a second time: the only posted markdown is the references (beside
    // the message linking the canvas).
    const posted = w.slack.thread('C1', ts).filter((m) => !m.stream && !w.slack.canvasesLinkedIn('C1', ts).some((c) => m.text.includes(c.id)));
    expect(posted.map((m) => m.blocks.map((b) => String(b.text ?? '')).join())).toEqual([expect.stringMatching(/^## References/)]);
    const last = streams.at(-1)!;
    expect(last.stream!.title).toMatch(/Research finished/);
    expect(last.blocks.some((b) => b.type === 'context_actions')).toBe(true);
    expect(w.slack.refused.filter((r) => r.error !== 'message_not_in_streaming_state')).toEqual([]);
    expect(w.slack.rateLimited).toEqual({});
  }, 40_000);

  it('a stream Slack ends early is followed by a fresh one: no paragraph lost or repeated, no round lost', async () => {
    // The bot expects the usual ~5 minutes; the fake ends every stream after 1.2 s: each roll-over is forced by the error.
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' }, { streaming: true, frameDelayMs: 60 });
    w.slack.streamLifetimeMs = 1200;
    const report = sampleReport(5, 2);
    w.ds.script = { ...w.ds.script, rounds: 5, report, chunk: 60 };
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('AI in education', { ts }));
    await expect.poll(() => finished(w, ts), { timeout: 30_000 }).toBe(true);

    expect(w.slack.refused.filter((r) => r.error === 'message_not_in_streaming_state').length).toBeGreaterThanOrEqual(2);
    const all = seenIn(w, ts);
    for (let r = 1; r <= 5; r++) expect(count(all, new RegExp(`search query for round ${r}\\b`)), `round ${r}`).toBeGreaterThanOrEqual(1);
    for (const piece of pieces(report)) expect(count(all, escapeRe(piece)), piece).toBe(1);
    expect(w.slack.streams('C1', ts).at(-1)!.stream!.title).toMatch(/Research finished/);
  }, 40_000);

  it('a report part that times out waiting for the stream is posted without the piece an answer was still on its way for', async () => {
    // Every append of report text is answered after 800 ms; a part waits 300 ms for the stream before it is posted.
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' }, { streaming: true, frameDelayMs: 10, stream: { deliverTimeoutMs: 300 } });
    w.slack.slowAnswer = (method, args) => (method === 'chat.appendStream' && JSON.stringify(args.chunks ?? '').includes('markdown_text') ? 800 : 0);
    const report = sampleReport(5, 2);
    w.ds.script = { ...w.ds.script, rounds: 3, report, chunk: 60 };
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('AI in education', { ts }));
    await expect.poll(() => finished(w, ts), { timeout: 30_000 }).toBe(true);
    const all = seenIn(w, ts);
    // Part of the report went out as a posted message, and no paragraph shows twice.
    expect(w.slack.thread('C1', ts).some((m) => !m.stream && m.blocks.some((b) => b.type === 'markdown' && !String(b.text).startsWith('## References')))).toBe(true);
    for (const piece of pieces(report)) expect(count(all, escapeRe(piece)), piece).toBe(1);
  }, 40_000);

  it("the stream's Stop cancels the run and closes the DashScope stream", async () => {
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' }, { streaming: true, frameDelayMs: 5, stream: { tickMs: 200 } });
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('AI in education', { ts }));
    await expect.poll(() => w.slack.streams('C1', ts).length).toBeGreaterThan(0);
    await expect.poll(() => w.ds.open).toBe(1);
    // Progress has arrived, so the plan's title moves with the clock (before any, it stays "Starting…" and nothing is
    // appended that could hear the Stop).
    await expect.poll(() => w.slack.streams('C1', ts).at(-1)?.stream?.title ?? '', { timeout: 5_000 }).toMatch(/ · /);
    w.ds.pause();
    w.slack.pressStop(w.slack.streams('C1', ts).at(-1)!.ts);
    // The next append (the clock moves every 200 ms here, the title each second) hears stopped_by_user; the run is
    // cancelled like Cancel. Under a loaded test run that can take longer than expect.poll's default second.
    await expect.poll(() => w.ds.clientAborts, { timeout: 10_000 }).toBe(1);
    await expect.poll(async () => (await w.bot.store.get(`slack:T1:C1:${ts}`))?.state, { timeout: 5_000 }).toBe('cancelled');
    expect(w.slack.refused).toContainEqual({ method: 'chat.appendStream', error: 'stopped_by_user' });
    expect(w.slack.files).toHaveLength(0);
  });

  it('a workspace answering unknown_method gets the edited progress message and the posted report, and is asked once', async () => {
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' });
    for (const [i, topic] of ['first topic', 'second topic'].entries()) {
      const ts = nextTs();
      await w.slack.sendEvent(w.endpoint, mentionEvent(topic, { ts }));
      await expect.poll(() => w.slack.files.length, { timeout: 15_000 }).toBe(i + 1);
      await expect.poll(() => w.slack.thread('C1', ts).some((m) => /Research finished/.test(m.text))).toBe(true);
      const all = seenIn(w, ts);
      for (const piece of pieces(w.ds.script.report)) expect(count(all, escapeRe(piece)), piece).toBe(1);
      expect(w.slack.streams('C1', ts)).toHaveLength(0);
    }
    // The first run found out; the second went straight to today's message.
    expect(w.slack.unsupported).toEqual(['chat.startStream']);
    expect(w.slack.callsOf('chat.update').length).toBeGreaterThan(0);
    expect(w.slack.refused).toEqual([]);
  });

  it('a stream that stops working mid-run (feature_not_enabled) hands over to an edited message without losing the report', async () => {
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' }, { streaming: true, frameDelayMs: 5 });
    w.slack.fail('chat.appendStream', 'feature_not_enabled');
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('AI in education', { ts }));
    await expect.poll(() => w.slack.files.length, { timeout: 15_000 }).toBe(1);
    await expect.poll(() => w.slack.thread('C1', ts).some((m) => !m.stream && /Research finished/.test(m.text))).toBe(true);
    const all = seenIn(w, ts);
    for (const piece of pieces(w.ds.script.report)) expect(count(all, escapeRe(piece)), piece).toBe(1);
    // Remembered for the workspace: the next run does not try to stream.
    const before = w.slack.callsOf('chat.startStream').length;
    const ts2 = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('another topic', { ts: ts2, user: 'U2' }));
    await expect.poll(() => w.slack.files.length, { timeout: 15_000 }).toBe(2);
    expect(w.slack.callsOf('chat.startStream')).toHaveLength(before);
  });

  it("feedback clicks on the finished report are recorded, each person's last click counting", async () => {
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' }, { streaming: true });
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('AI in education', { ts }));
    await expect.poll(() => finished(w, ts), { timeout: 15_000 }).toBe(true);
    const last = w.slack.streams('C1', ts).at(-1)!;
    await w.slack.sendAction(w.endpoint, w.slack.feedbackPayload(last, 'positive', 'U1'));
    await expect.poll(() => w.bot.store.countFeedback()).toEqual({ good: 1, bad: 0 });
    await w.slack.sendAction(w.endpoint, w.slack.feedbackPayload(last, 'negative', 'U1'));
    await expect.poll(() => w.bot.store.countFeedback()).toEqual({ good: 0, bad: 1 });
    await w.slack.sendAction(w.endpoint, w.slack.feedbackPayload(last, 'positive', 'U2'));
    await expect.poll(() => w.bot.store.countFeedback()).toEqual({ good: 1, bad: 1 });
    const metrics = await (await fetch(`http://127.0.0.1:${w.bot.port}/metrics`)).text();
    expect(metrics).toMatch(/drb_report_feedback\{value="good"\} 1/);
  });

  it('a failed run offers Retry under its stream; the retried run streams into a fresh message', async () => {
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' }, { streaming: true, frameDelayMs: 2 });
    w.ds.enqueue({ kind: 'error-frame', afterFrames: 10, status: 429, code: 'Throttling', message: 'Requests throttling triggered.' });
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('AI in education', { ts }));
    await expect.poll(() => w.slack.streams('C1', ts).at(-1)?.stream?.state).toBe('stopped');
    const failed = w.slack.streams('C1', ts).at(-1)!;
    expect(failed.stream!.title).toMatch(/failed/i);
    expect([...failed.stream!.tasks.values()].some((t) => t.status === 'error')).toBe(true);
    const retry = findButton([failed], ACTIONS.retry);
    expect(retry).toBeDefined();
    await w.slack.sendAction(w.endpoint, w.slack.buttonPayload(retry!, ACTIONS.retry, 'U1'));
    await expect.poll(() => finished(w, ts), { timeout: 15_000 }).toBe(true);
    const streams = w.slack.streams('C1', ts);
    expect(streams.length).toBeGreaterThanOrEqual(2);
    expect(streams.at(-1)!.stream!.title).toMatch(/Research finished/);
    for (const piece of pieces(w.ds.script.report)) expect(count(streams.at(-1)!.stream!.markdown, escapeRe(piece)), piece).toBe(1);
  });

  it('neutralises hostile model output in the streamed report', async () => {
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' }, { streaming: true });
    w.ds.script = { ...w.ds.script, report: '# Report <!channel>\n\nHi <@U123> and <!here>, see <https://evil.example|innocent text> & more.\n\nAlso @channel and @everyone [[1]].\n\nEnd.' };
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('topic', { ts }));
    await expect.poll(() => finished(w, ts), { timeout: 15_000 }).toBe(true);
    const everything = w.slack.calls.filter((c) => c.method.startsWith('chat.')).map((c) => JSON.stringify(c.args)).join('\n');
    expect(seenIn(w, ts)).toContain('innocent text');
    for (const token of ['<!channel>', '<!here>', '<@U123>', '<https://evil.example|', '@channel', '@everyone']) expect(everything, token).not.toContain(token);
  });

  it('6 runs at once under the real tiers: no method answers 429 and every run ends with its report once', async () => {
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' }, { streaming: true, budget: 'production', frameDelayMs: 3 });
    const threads = Array.from({ length: 6 }, (_, i) => ({ ts: nextTs(), channel: `C${i + 20}` }));
    // Slack allows a burst of 4 stream starts, then ~16 a minute: the other runs show their progress at once in a
    // posted message, which becomes their header when their stream opens.
    const sent = Date.now();
    await Promise.all(threads.map(({ ts, channel }, i) => w.slack.sendEvent(w.endpoint, mentionEvent(`topic ${i}`, { ts, channel, user: `U${i}` }))));
    // Each run ends in its stream, or in its placeholder when its report came before a stream could open for it.
    const ended = ({ ts, channel }: (typeof threads)[number]) =>
      w.slack.streams(channel, ts).at(-1)?.stream?.state === 'stopped' || w.slack.thread(channel, ts).some((m) => !m.stream && /Research finished/.test(m.text));
    await expect.poll(() => threads.filter(ended).length, { timeout: 60_000 }).toBe(6);
    await expect.poll(() => w.slack.files.length, { timeout: 10_000 }).toBe(6);
    expect(w.slack.rateLimited).toEqual({});
    expect(w.slack.refused).toEqual([]);
    // The runs beyond the start burst posted a placeholder at once (a header once their stream opened).
    const placeheld = threads.filter(({ ts, channel }) => w.slack.thread(channel, ts).some((m) => !m.stream && /progress and report below|Research finished/.test(m.text)));
    expect(placeheld.length).toBeGreaterThanOrEqual(2);
    for (const { ts, channel } of threads) {
      const first = w.slack.calls.find((c) => c.ok && c.args.channel === channel && (c.method === 'chat.startStream' || c.method === 'chat.postMessage'))!;
      expect(first.at - sent, `first progress in ${channel}`).toBeLessThan(3000);
      expect(w.slack.thread(channel, ts).filter((m) => m.stream?.state === 'streaming'), `streams left open in ${channel}`).toEqual([]);
    }
    for (const { ts, channel } of threads) {
      const all = w.slack.thread(channel, ts).map(seen).join('\n');
      for (const piece of pieces(w.ds.script.report)) expect(count(all, escapeRe(piece)), piece).toBe(1);
    }
  }, 90_000);

  it('beyond the streams the append budget keeps fresh, runs show an edited message and stream once a stream ends', async () => {
    // Two streams at once in this workspace (the production budget keeps 14 moving every 9.5 s).
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' }, { streaming: true, frameDelayMs: 12, stream: { maxStreams: 2 } });
    // The placeholders are edited under the test's fast budget, far above Tier 3: lifted like the stream tiers.
    w.slack.limits['chat.update'] = { max: 100_000, windowMs: 60_000 };
    const early = [0, 1].map((i) => ({ ts: nextTs(), channel: `C${i + 40}` }));
    const late = [2, 3, 4].map((i) => ({ ts: nextTs(), channel: `C${i + 40}` }));
    const mention = ({ ts, channel }: { ts: string; channel: string }, i: number) => w.slack.sendEvent(w.endpoint, mentionEvent(`topic ${i}`, { ts, channel, user: `U${i}` }));
    await Promise.all(early.map(mention));
    // The late ones come while the early ones are half-way.
    await expect.poll(() => early.every(({ ts, channel }) => w.slack.streams(channel, ts).map(seen).join().includes('search query for round 3')), { timeout: 10_000 }).toBe(true);
    await Promise.all(late.map((t, i) => mention(t, i + 2)));
    const all = [...early, ...late];
    await expect.poll(() => all.filter(({ channel }) => w.slack.files.some((f) => f.channel === channel)).length, { timeout: 60_000 }).toBe(5);
    await expect.poll(() => all.every(({ ts, channel }) => w.slack.thread(channel, ts).every((m) => m.stream?.state !== 'streaming')), { timeout: 10_000 }).toBe(true);

    // Never more than two streams open at once: from each run's first start to its last stop.
    const spans = all
      .map(({ channel }) => w.slack.calls.filter((c) => c.ok && c.args.channel === channel && /^chat\.(start|stop)Stream$/.test(c.method)).map((c) => c.at))
      .filter((times) => times.length > 0)
      .map((times) => [Math.min(...times), Math.max(...times)] as const);
    for (const [start] of spans) expect(spans.filter(([a, b]) => a <= start && start < b).length, 'streams open at once').toBeLessThanOrEqual(2);
    for (const { ts, channel } of late) {
      // The progress moved in the edited placeholder while the run waited for a stream.
      const started = w.slack.calls.find((c) => c.ok && c.method === 'chat.startStream' && c.args.channel === channel)?.at ?? Infinity;
      const edits = w.slack.calls.filter((c) => c.ok && c.method === 'chat.update' && c.args.channel === channel && c.at < started);
      expect(edits.length, `edits of the placeholder in ${channel}`).toBeGreaterThan(1);
      // Streamed or posted, the report is there exactly once.
      const text = w.slack.thread(channel, ts).map(seen).join('\n');
      for (const piece of pieces(w.ds.script.report)) expect(count(text, escapeRe(piece)), piece).toBe(1);
    }
    // A run that waited opened its stream once an early one had ended.
    const earlyEnd = Math.min(...spans.slice(0, 2).map(([, end]) => end));
    expect(spans.slice(2).some(([start]) => start >= earlyEnd)).toBe(true);
    expect(w.slack.rateLimited).toEqual({});
  }, 90_000);

  it('a stream from before a restart is ended, and while the run waits for a stream slot its progress shows in that message', async () => {
    // One stream at a time: run A holds it while B (a message of a process before this one) waits.
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' }, { streaming: true, frameDelayMs: 30, stream: { maxStreams: 1 } });
    const a = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('topic A', { ts: a }));
    await expect.poll(() => w.slack.streams('C1', a).length).toBe(1);
    // B's stream, started by the earlier process and left open.
    const b = nextTs();
    const started = (await (await fetch(`${w.slack.apiUrl}chat.startStream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${w.slack.botToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'C2', thread_ts: b, recipient_user_id: 'U2', recipient_team_id: 'T1', chunks: [{ type: 'plan_update', title: 'Searching…' }] }),
    })).json()) as { ts: string };
    const view = { kind: 'progress' as const, lang: 'en' as const, topic: 'topic B', state: 'researching' as const, requester: 'U2' };
    await w.bot.slack!.platform.update(`slack:T1:C2:${b}`, started.ts, view, false);
    const old = () => w.slack.messages.get(`C2:${started.ts}`)!;
    await expect.poll(() => old().stream!.state).toBe('stopped');
    expect(old().stream!.title).toMatch(/Interrupted by a restart · continued below/);
    // A still streams, so B shows its progress by edits of that message meanwhile.
    const progressEdit = (text: string) => /topic B/.test(text) && !/report below/.test(text);
    await expect.poll(() => w.slack.calls.some((c) => c.ok && c.method === 'chat.update' && c.args.ts === started.ts && progressEdit(String(c.args.text)))).toBe(true);
    expect(w.slack.streams('C1', a).at(-1)!.stream!.state).toBe('streaming');
  }, 40_000);
});
