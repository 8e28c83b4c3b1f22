import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createQwenBackend } from '../../src/research/qwen.js';
import { ResearchError, type ResearchEvent, type ResearchRequest } from '../../src/core/ports/research.js';
import { FakeDashScope, THROTTLE, type Behaviour } from '../fakes/dashscope.js';

const STEP2: ResearchRequest = {
  messages: [
    { role: 'user', content: 'AI in education' },
    { role: 'assistant', content: 'Which aspects?' },
    { role: 'user', content: 'Personalised learning' },
  ],
  clarify: true,
  format: 'detailed',
};

let fake: FakeDashScope;
beforeEach(async () => {
  fake = await new FakeDashScope().start();
});
afterEach(() => fake.close());

function backend(idleTimeoutMs = 5000) {
  return createQwenBackend({ baseUrl: fake.url, apiKey: 'sk-test', model: 'qwen-deep-research', idleTimeoutMs, retryBaseMs: 5 });
}

async function collect(req: ResearchRequest = STEP2, signal?: AbortSignal, idleMs?: number) {
  const events: ResearchEvent[] = [];
  try {
    for await (const e of backend(idleMs).run(req, signal)) events.push(e);
    return { events, error: undefined };
  } catch (error) {
    return { events, error: error as ResearchError };
  }
}

describe('qwen-deep-research over HTTP', () => {
  it('sends the documented request and streams the whole research', async () => {
    const { events, error } = await collect();
    expect(error).toBeUndefined();
    const req = fake.requests[0]!;
    expect(req.path).toBe('/api/v1/services/aigc/text-generation/generation');
    expect(req.headers.authorization).toBe('Bearer sk-test');
    expect(req.headers['x-dashscope-sse']).toBe('enable');
    expect(req.headers.accept).toBe('text/event-stream');
    expect(req.body).toEqual({
      model: 'qwen-deep-research',
      input: { messages: STEP2.messages },
      parameters: { incremental_output: true, output_format: 'model_detailed_report' },
    });
    const answer = events.map((e) => (e.type === 'answer' ? e.delta : '')).join('');
    expect(answer).toBe(fake.script.report);
    expect(events.filter((e) => e.type === 'round').length).toBe(3);
    expect(events.filter((e) => e.type === 'sites').flatMap((e) => (e.type === 'sites' ? e.sites : []))).toHaveLength(12);
    expect(events.at(-1)).toMatchObject({ type: 'done', requestId: expect.any(String) });
  });

  it('skips the clarifying step with enable_feedback:false and asks for a summary', async () => {
    await collect({ messages: [{ role: 'user', content: 'topic' }], clarify: false, format: 'summary' });
    expect(fake.requests[0]!.body.parameters).toEqual({
      incremental_output: true,
      output_format: 'model_summary_report',
      enable_feedback: false,
    });
  });

  const shapes: [string, Behaviour, string, number][] = [
    ['non-2xx JSON body', { kind: 'http-error', status: 401, code: 'InvalidApiKey', message: 'Invalid API-key provided.' }, 'auth', 1],
    ['non-2xx SSE body', { kind: 'http-error', status: 400, code: 'InvalidParameter', message: 'bad', sse: true }, 'bad_request', 1],
    ['HTTP 200 with event:error', { kind: 'error-frame', afterFrames: 0, status: 400, code: 'InvalidParameter', message: 'x' }, 'bad_request', 1],
    ['quota', { kind: 'http-error', status: 400, code: 'Arrearage', message: 'Access denied, please make sure your account is in good standing.' }, 'quota', 1],
    ['forbidden', { kind: 'http-error', status: 403, code: 'AccessDenied', message: 'Access denied.' }, 'auth', 1],
    ['moderation mid-run', { kind: 'error-frame', afterFrames: 30, status: 400, code: 'DataInspectionFailed', message: 'Output data may contain inappropriate content.' }, 'content_blocked', 1],
  ];
  it.each(shapes)('maps %s to one ResearchError', async (_name, behaviour, code, requests) => {
    fake.enqueue(behaviour);
    const { error } = await collect();
    expect(error).toBeInstanceOf(ResearchError);
    expect(error).toMatchObject({ code, requestId: 'eee227a4-d38f-4b8e-8c7f-167e76dbdc34' });
    expect(fake.requests).toHaveLength(requests);
  });

  it('retries throttling, 5xx and dropped connections before the first frame, then succeeds', async () => {
    fake.enqueue(THROTTLE, { kind: 'http-error', status: 503, code: 'ModelUnavailable', message: 'Model is unavailable', sse: true }, { kind: 'drop', afterFrames: 0 });
    const { error, events } = await collect();
    expect(error).toBeUndefined();
    expect(fake.requests).toHaveLength(4);
    expect(events.at(-1)?.type).toBe('done');
  });

  it('gives up after the configured retries with the last error', async () => {
    fake.enqueue(THROTTLE, THROTTLE, THROTTLE, THROTTLE);
    const { error } = await collect();
    expect(error).toMatchObject({ code: 'rate_limited', upstreamCode: 'Throttling' });
    expect(fake.requests).toHaveLength(4);
  });

  it('never retries once output has started', async () => {
    fake.enqueue({ kind: 'error-frame', afterFrames: 5, status: 429, code: 'Throttling', message: 'Requests throttling triggered.' });
    expect((await collect()).error).toMatchObject({ code: 'rate_limited' });
    fake.enqueue({ kind: 'http-error', status: 500, code: 'InternalError', message: 'x' });
    fake.enqueue({ kind: 'drop', afterFrames: 5 });
    const { error, events } = await collect();
    expect(error).toMatchObject({ code: 'truncated' });
    expect(events.length).toBeGreaterThan(0);
    expect(fake.requests).toHaveLength(3);
  });

  it('times out when the stream goes silent', async () => {
    fake.enqueue({ kind: 'stall', afterFrames: 3 });
    const { error } = await collect(STEP2, undefined, 300);
    expect(error).toMatchObject({ code: 'timeout' });
    expect(fake.requests).toHaveLength(1);
  });

  it('keep-alive frames keep a slow stream alive past the idle timeout', async () => {
    fake.frameDelayMs = 2;
    fake.script = { ...fake.script, rounds: 2 };
    const { error } = await collect(STEP2, undefined, 200);
    expect(error).toBeUndefined();
  });

  it('cancels through the AbortSignal and closes the connection', async () => {
    fake.frameDelayMs = 5;
    const ac = new AbortController();
    const events: ResearchEvent[] = [];
    let error: unknown;
    try {
      for await (const e of backend().run(STEP2, ac.signal)) {
        events.push(e);
        if (e.type === 'round') ac.abort();
      }
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'cancelled' });
    await expect.poll(() => fake.clientAborts).toBe(1);
    expect(fake.open).toBe(0);
  });
});
