import { afterEach, describe, expect, it } from 'vitest';
import { THROTTLE, type Behaviour } from '../fakes/dashscope.js';
import { feishuWorld, progressCard, text, type FeishuWorld } from '../feishu/harness.js';
import { mentionEvent, nextTs, slackWorld, visible, type SlackWorld } from '../slack/harness.js';

let w: SlackWorld | FeishuWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

const metrics = async (port: number) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
/** The lines of `expected` that the /metrics text lacks. */
const missing = (text: string, expected: string[]) => expected.filter((line) => !text.split('\n').includes(line));

/** Each DashScope failure, what the person reads in the thread, and the failure code counted in /metrics. */
const DASHSCOPE_FAULTS: [string, Behaviour, RegExp, string][] = [
  ['invalid key', { kind: 'http-error', status: 401, code: 'InvalidApiKey', message: 'Invalid API-key provided.' }, /rejected the API key/, 'auth'],
  ['no credit', { kind: 'http-error', status: 400, code: 'Arrearage', message: 'Access denied, please make sure your account is in good standing.' }, /out of credit/, 'quota'],
  ['content filter', { kind: 'error-frame', afterFrames: 5, status: 400, code: 'DataInspectionFailed', message: 'Output data may contain inappropriate content.' }, /content filter/, 'content_blocked'],
  ['bad request', { kind: 'http-error', status: 400, code: 'InvalidParameter', message: 'Input is invalid.' }, /rejected the request/, 'bad_request'],
  ['server error mid-stream', { kind: 'error-frame', afterFrames: 30, status: 500, code: 'InternalError', message: 'An internal error has occured.' }, /temporarily unavailable/, 'unavailable'],
  ['dropped connection', { kind: 'drop', afterFrames: 40 }, /cut off before the report/, 'truncated'],
  ['stalled stream', { kind: 'stall', afterFrames: 10 }, /stopped sending anything/, 'timeout'],
];

describe('fault drills: DashScope', () => {
  it.each(DASHSCOPE_FAULTS)('%s: the thread says what happened and what to do; nothing is re-run by itself', async (_name, behaviour, told, code) => {
    // An idle timeout of 1 s, below config's 10 s floor; only the stall waits it out.
    const sw = await slackWorld({ SKIP_CLARIFICATION: 'true' }, { idleTimeoutMs: 1000 });
    w = sw;
    sw.ds.enqueue(behaviour);
    const ts = nextTs();
    await sw.slack.sendEvent(sw.endpoint, mentionEvent('topic', { ts }));
    await expect.poll(() => sw.slack.thread('C1', ts).some((m) => told.test(visible(m))), { timeout: 15_000 }).toBe(true);
    // The run is over once its failure is counted, the thread is stored as failed and no run is running or queued:
    // a re-run would have to be one of those or have sent its request already.
    const over = [`drb_research_failures_total{code="${code}"} 1`, 'drb_threads{state="failed"} 1', 'drb_research_runs{status="running"} 0', 'drb_research_runs{status="queued"} 0'];
    await expect.poll(async () => missing(await metrics(sw.bot.port), over)).toEqual([]);
    expect(sw.ds.requests).toHaveLength(1);
    expect(sw.slack.files).toHaveLength(0);
    expect(await metrics(sw.bot.port)).toContain(`drb_research_failures_total{code="${code}"} 1`);
  }, 30_000);

  it('throttling before any output is retried and the research completes once', async () => {
    const sw = await slackWorld({ SKIP_CLARIFICATION: 'true' });
    w = sw;
    sw.ds.enqueue(THROTTLE);
    const ts = nextTs();
    await sw.slack.sendEvent(sw.endpoint, mentionEvent('topic', { ts }));
    await expect.poll(() => sw.slack.files.length, { timeout: 15_000 }).toBe(1);
    expect(sw.ds.requests).toHaveLength(2);
    const m = await metrics(sw.bot.port);
    expect(m).toMatch(/drb_tokens_total\{kind="output"\} [1-9]/);
    expect(m).toContain('drb_threads{state="done"} 1');
  });
});

describe('fault drills: chat platforms', () => {
  it('Slack 5xx, 429 and a revoked token on edits: the report still arrives; the trouble shows in /metrics', async () => {
    const sw = await slackWorld({ SKIP_CLARIFICATION: 'true' }, {});
    w = sw;
    sw.slack.fail('chat.postMessage', 'internal_error', 500);
    sw.slack.fail('chat.postMessage', 'ratelimited', 429, { 'retry-after': '1' });
    sw.slack.fail('chat.update', 'invalid_auth', 200);
    const ts = nextTs();
    await sw.slack.sendEvent(sw.endpoint, mentionEvent('topic', { ts }));
    await expect.poll(() => sw.slack.files.length, { timeout: 20_000 }).toBe(1);
    await expect.poll(() => sw.slack.thread('C1', ts).some((m) => /Research finished/.test(m.text)), { timeout: 10_000 }).toBe(true);
    const m = await metrics(sw.bot.port);
    expect(m).toMatch(/drb_platform_rate_limited\{platform="slack"\} [1-9]/);
    expect(m).toContain('drb_platform_api_errors{platform="slack",code="invalid_auth"} 1');
  }, 40_000);

  it('Feishu 5xx on a reply and on a patch, 429 and an expired token: everything arrives once', async () => {
    const fw = await feishuWorld({ SKIP_CLARIFICATION: 'true' });
    w = fw;
    fw.feishu.failures.push(
      { path: /\/reply$/, answer: { status: 502, body: { code: 502, msg: 'bad gateway' } } },
      { path: /\/messages\/om_b\d+$/, answer: { status: 500, body: { code: 500, msg: 'internal error' } } },
      { path: /\/files$/, answer: { status: 429, body: { code: 99991400, msg: 'request trigger frequency limit' }, headers: { 'x-ogw-ratelimit-reset': '1' } } },
    );
    fw.feishu.expireTokens();
    const event = fw.feishu.userMessage({ text: 'topic', mentionBot: true });
    const root = (event.event as { message: { message_id: string } }).message.message_id;
    await fw.deliver(event);
    await expect.poll(() => fw.feishu.files.size, { timeout: 20_000 }).toBe(1);
    await expect.poll(() => text(progressCard(fw, root)!), { timeout: 10_000 }).toMatch(/Research finished/);
    expect(fw.feishu.thread(root).filter((m) => m.msg_type === 'file')).toHaveLength(1);
    const m = await metrics(fw.bot.port);
    expect(m).toMatch(/drb_platform_rate_limited\{platform="feishu"\} 1/);
  }, 40_000);

  it('/healthz is ready only while the store and the platforms are connected', async () => {
    const fw = await feishuWorld();
    w = fw;
    const health = async () => (await fetch(`http://127.0.0.1:${fw.bot.port}/healthz`)).status;
    expect(await health()).toBe(200);
    await fw.bot.feishu!.stop();
    expect(await health()).toBe(503);
  });
});
