import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DashScopeFollowupModel, type FollowupModelOptions } from '../../src/research/followup-model.js';
import { ResearchError } from '../../src/core/ports/research.js';
import type { FollowupEvent, ModelMessage } from '../../src/core/ports/followup.js';
import { FakeDashScope, THROTTLE } from '../fakes/dashscope.js';
import { CHAT_REQUEST_ID, DEFAULT_FOLLOWUP_ANSWER } from '../fakes/dashscope-chat.js';

const MESSAGES: ModelMessage[] = [
  { role: 'system', content: 'Answer from the report below and cite its sources as [[n]].\n\n# Report …' },
  { role: 'user', content: 'Which study found the largest gains?' },
];

let fake: FakeDashScope;
beforeEach(async () => {
  fake = await new FakeDashScope({ apiKey: 'sk-test' }).start();
});
afterEach(() => fake.close());

function model(opts: Partial<FollowupModelOptions> = {}) {
  return new DashScopeFollowupModel({ baseUrl: fake.url, apiKey: 'sk-test', model: 'qwen-plus', idleTimeoutMs: 5000, retryBaseMs: 5, ...opts });
}

async function collect(m = model(), signal?: AbortSignal) {
  const events: FollowupEvent[] = [];
  try {
    for await (const e of m.answer(MESSAGES, signal)) events.push(e);
    return { events, text: text(events), error: undefined };
  } catch (error) {
    return { events, text: text(events), error: error as ResearchError };
  }
}

const text = (events: FollowupEvent[]) => events.map((e) => (e.type === 'delta' ? e.text : '')).join('');
const usages = (events: FollowupEvent[]) => events.flatMap((e) => (e.type === 'usage' ? [e.usage] : []));

describe('the follow-up chat model over the native endpoint', () => {
  it('sends the documented streaming request and yields the answer piece by piece, with usage', async () => {
    fake.chat.enqueue({ usage: { inputTokens: 812, outputTokens: 57 } });
    const { events, text: answer, error } = await collect();
    expect(error).toBeUndefined();
    expect(answer).toBe(DEFAULT_FOLLOWUP_ANSWER);
    expect(events.filter((e) => e.type === 'delta').length).toBeGreaterThan(5);
    expect(usages(events).at(-1)).toEqual({ inputTokens: 812, outputTokens: 57 });
    const req = fake.chat.requests[0]!;
    expect(req.path).toBe('/api/v1/services/aigc/text-generation/generation');
    expect(req.headers.authorization).toBe('Bearer sk-test');
    expect(req.headers.accept).toBe('text/event-stream');
    expect(req.headers['x-dashscope-sse']).toBe('enable');
    expect(req.body).toEqual({
      model: 'qwen-plus',
      input: { messages: MESSAGES },
      parameters: { result_format: 'message', incremental_output: true, max_tokens: 2000 },
    });
    // The chat model is recorded apart from research runs.
    expect(fake.requests).toHaveLength(0);
    expect(fake.chat.streams).toHaveLength(1);
  });

  it('passes max_tokens and the model from its options', async () => {
    const m = model({ model: 'qwen-flash', maxTokens: 600 });
    expect(m.model).toBe('qwen-flash');
    await collect(m);
    expect(fake.chat.requests[0]!.body).toMatchObject({ model: 'qwen-flash', parameters: { max_tokens: 600 } });
  });

  it('maps a wrong key to auth (HTTP 401, not retried)', async () => {
    const { error } = await collect(model({ apiKey: 'sk-wrong' }));
    expect(error).toBeInstanceOf(ResearchError);
    expect(error).toMatchObject({ code: 'auth', status: 401, upstreamCode: 'InvalidApiKey' });
    expect(fake.chat.requests).toHaveLength(1);
  });

  it('maps throttling to rate_limited with the status, and retries it before the first frame', async () => {
    fake.chat.enqueue({ fault: THROTTLE });
    const once = await collect(model({ retries: 0 }));
    expect(once.error).toMatchObject({ code: 'rate_limited', status: 429, upstreamCode: 'Throttling', requestId: CHAT_REQUEST_ID });
    fake.chat.enqueue({ fault: { ...THROTTLE, sse: true } });
    const retried = await collect(model({ retries: 1 }));
    expect(retried.error).toBeUndefined();
    expect(retried.text).toBe(DEFAULT_FOLLOWUP_ANSWER);
    expect(fake.chat.requests).toHaveLength(3);
  });

  it('ends with the error an event:error frame carries mid-stream, after the text before it', async () => {
    fake.chat.enqueue({ fault: { kind: 'error-frame', afterFrames: 3, status: 400, code: 'DataInspectionFailed', message: 'Output data may contain inappropriate content.' } });
    const { text: partial, error } = await collect();
    expect(error).toMatchObject({ code: 'content_blocked', status: 400, upstreamCode: 'DataInspectionFailed' });
    expect(partial).toBe(DEFAULT_FOLLOWUP_ANSWER.slice(0, 3 * fake.chat.chunk));
    expect(fake.chat.requests).toHaveLength(1);
  });

  it('is truncated when the stream ends without finish_reason "stop"', async () => {
    fake.chat.enqueue({ finish: 'none' }, { finish: 'length' }, { fault: { kind: 'drop', afterFrames: 4 } });
    const ended = await collect();
    expect(ended.error).toMatchObject({ code: 'truncated' });
    expect(ended.text).toBe(DEFAULT_FOLLOWUP_ANSWER);
    const long = await collect();
    expect(long.error).toMatchObject({ code: 'truncated' });
    expect(long.error!.message).toContain('max_tokens 2000');
    const dropped = await collect();
    expect(dropped.error).toMatchObject({ code: 'truncated' });
    // The fourth frame's blank line never came: an unterminated frame is not taken.
    expect(dropped.text).toBe(DEFAULT_FOLLOWUP_ANSWER.slice(0, 3 * fake.chat.chunk));
    expect(fake.chat.requests).toHaveLength(3);
  });

  it('times out when the stream goes silent', async () => {
    fake.chat.enqueue({ fault: { kind: 'stall', afterFrames: 2 } });
    const { error } = await collect(model({ idleTimeoutMs: 200, retries: 0 }));
    expect(error).toMatchObject({ code: 'timeout' });
  });

  it('closes the connection when the signal aborts, and the fake sees the client go', async () => {
    fake.chat.frameDelayMs = 20;
    const ac = new AbortController();
    const events: FollowupEvent[] = [];
    let error: unknown;
    try {
      for await (const e of model().answer(MESSAGES, ac.signal)) {
        events.push(e);
        if (e.type === 'delta') ac.abort();
      }
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'cancelled' });
    expect(events.filter((e) => e.type === 'delta')).toHaveLength(1);
    await expect.poll(() => fake.chat.clientAborts).toBe(1);
    expect(fake.chat.open).toBe(0);
    expect(fake.chat.streams).toHaveLength(0);
  });

  it('takes a cumulative stream and an older text-format frame without repeating text', async () => {
    // What a client that forgot incremental_output would get: every frame repeats the text so far.
    const m = model();
    const body = m.requestBody(MESSAGES);
    expect(body.parameters).toMatchObject({ incremental_output: true });
    const patched = new DashScopeFollowupModel({ baseUrl: fake.url, apiKey: 'sk-test', model: 'qwen-plus', idleTimeoutMs: 5000 });
    patched.requestBody = (msgs) => ({ ...m.requestBody(msgs), parameters: { result_format: 'text', max_tokens: 100 } });
    const { text: answer, error } = await collect(patched);
    expect(error).toBeUndefined();
    expect(answer).toBe(DEFAULT_FOLLOWUP_ANSWER);
  });
});
