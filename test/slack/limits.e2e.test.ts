import { afterEach, describe, expect, it } from 'vitest';
import { ACTIONS } from '../../src/platforms/slack/blocks.js';
import { sampleReport } from '../fakes/dashscope-script.js';
import { findButton, mentionEvent, nextTs, slackWorld, visible, type SlackWorld } from './harness.js';

let w: SlackWorld;
afterEach(() => w?.close());

const markdownOf = (w: SlackWorld, ts: string) =>
  w.slack.thread('C1', ts).flatMap((m) => m.blocks.filter((b) => b.type === 'markdown').map((b) => String(b.text)));

describe('Slack limits and safety', () => {
  it('a 30,000-character report arrives whole, split within the limits, with no rejected call', async () => {
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' });
    const report = sampleReport(60, 3) + '\n\n```js\n' + 'const x = 1; // code\n'.repeat(300) + '```\n';
    expect(report.length).toBeGreaterThan(30_000);
    w.ds.script = { ...w.ds.script, report, chunk: 400 };
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('a long topic', { ts }));
    await expect.poll(() => w.slack.files.length, { timeout: 20_000 }).toBe(1);
    const parts = markdownOf(w, ts);
    expect(parts.length).toBeGreaterThanOrEqual(4);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(12_000);
    const joined = parts.join('\n');
    for (const line of report.split('\n')) if (line.trim() && !line.includes('[[')) expect(joined).toContain(line);
    for (const p of parts) expect((p.match(/^```/gm) ?? []).length % 2).toBe(0);
    expect(w.slack.files[0]!.content.toString()).toContain(report.split('\n').at(-3)!);
    expect(w.slack.refused).toEqual([]);
  }, 40_000);

  it('neutralises hostile model output: no mass mention, user mention or Slack link can form', async () => {
    w = await slackWorld();
    w.ds.question = 'Should I tell <!everyone> and <!subteam^S123|@team>? @here';
    w.ds.script = {
      ...w.ds.script,
      report: '# Report <!channel>\n\nHi <@U123> and <!here>, see <https://evil.example|innocent text> & more.\n\nAlso @channel and @everyone [[1]].',
    };
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('topic <!channel>', { ts }));
    await expect.poll(() => findButton(w.slack.thread('C1', ts), ACTIONS.startNow)).toBeDefined();
    await w.slack.sendAction(w.endpoint, w.slack.buttonPayload(findButton(w.slack.thread('C1', ts), ACTIONS.startNow)!, ACTIONS.startNow, 'U1'));
    await expect.poll(() => w.slack.files.length, { timeout: 15_000 }).toBe(1);
    const everything = w.slack
      .thread('C1', ts)
      .flatMap((m) => m.history.map((h) => [h.text, JSON.stringify(h.blocks)].join('\n')))
      .join('\n');
    expect(everything).toContain('innocent text');
    for (const token of ['<!channel>', '<!here>', '<!everyone>', '<!subteam^S123', '<@U123>', '<https://evil.example|', '@channel', '@here', '@everyone']) {
      expect(everything, token).not.toContain(token);
    }
    expect(w.ds.requests[0]!.body.input?.messages?.[0]?.content).toBe('topic @channel');
  });

  it('10 runs at once in one workspace stay within the chat.update budget, with every final state delivered', async () => {
    // The one test under the production edit budget: it is what this test checks.
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' }, { budget: 'production' });
    w.ds.frameDelayMs = 2;
    // One channel each: the edit budget is the workspace's, while chat.postMessage is limited per channel (30 per
    // 30 s in the fake, as in Slack), which 10 runs of 3 posts in one channel would reach exactly.
    const threads = Array.from({ length: 10 }, (_, i) => ({ ts: nextTs(), channel: `C${i + 10}` }));
    await Promise.all(threads.map(({ ts, channel }, i) => w.slack.sendEvent(w.endpoint, mentionEvent(`topic ${i}`, { ts, channel, user: `U${i}` }))));
    await expect
      .poll(() => threads.filter(({ ts, channel }) => w.slack.thread(channel, ts).some((m) => /Research finished/.test(m.text))).length, { timeout: 60_000 })
      .toBe(10);
    expect(w.slack.rateLimited['chat.update']).toBeUndefined();
    expect(w.slack.peakUpdatesPerMinute()).toBeLessThanOrEqual(45);
    expect(w.slack.refused).toEqual([]);
    expect(w.slack.files).toHaveLength(10);
  }, 90_000);

  it('a rate-limited edit does not stall the other Slack calls', async () => {
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' });
    w.slack.fail('chat.update', 'ratelimited', 429, { 'retry-after': '30' });
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('topic', { ts }));
    // The report and the file go out while edits wait out the 30 s Retry-After.
    await expect.poll(() => w.slack.files.length, { timeout: 10_000 }).toBe(1);
    expect(markdownOf(w, ts).join('\n')).toContain('## Conclusion');
    expect(w.slack.callsOf('chat.update')).toHaveLength(1);
  });
});

describe('Slack in Socket Mode', () => {
  it('runs a whole conversation over a local apps.connections.open + WebSocket server', async () => {
    w = await slackWorld({}, { socket: true });
    await expect.poll(() => w.slack.socketConnected).toBe(true);
    const ts = nextTs();
    const ackMs = await w.slack.sendEnvelope('events_api', w.slack.eventBody(mentionEvent('socket topic', { ts })));
    expect(ackMs).toBeLessThan(3000);
    await expect.poll(() => findButton(w.slack.thread('C1', ts), ACTIONS.startNow)).toBeDefined();
    await w.slack.sendEnvelope('interactive', w.slack.buttonPayload(findButton(w.slack.thread('C1', ts), ACTIONS.startNow)!, ACTIONS.startNow, 'U1'));
    await expect.poll(() => w.slack.files.length, { timeout: 15_000 }).toBe(1);
    await expect.poll(() => w.slack.thread('C1', ts).some((m) => /Research finished/.test(visible(m)))).toBe(true);
    expect(w.slack.callsOf('apps.connections.open').length).toBeGreaterThanOrEqual(1);
  });
});
