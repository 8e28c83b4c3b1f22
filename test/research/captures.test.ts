import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { QwenMapper } from '../../src/research/qwen.js';
import { FrameDecoder } from '../../src/research/sse.js';
import type { ResearchEvent } from '../../src/core/ports/research.js';

const dir = fileURLToPath(new URL('../fixtures/dashscope-captures/', import.meta.url));
const capture = (name: string) => readFileSync(`${dir}deep-research-${name}-sse.response.body.txt`);

/** The recorded frames in the order a run produces them; each file ends with a single newline. */
const ORDER = [
  'planning-type',
  'web-research-streaming-queries',
  'web-research-streaming-queries-research-goal',
  'web-research-streaming-web-results',
  'web-research-streaming-web-results-learning-map',
  'web-research-web-result-finished',
  'keep-alive-type',
  'answer-typing-reference',
  'answer-finished',
];

function decode(chunks: Uint8Array[]): ResearchEvent[] {
  const decoder = new FrameDecoder();
  const mapper = new QwenMapper();
  const events: ResearchEvent[] = [];
  for (const c of chunks) for (const f of decoder.push(c)) events.push(...mapper.map(f.json));
  for (const f of decoder.end()) events.push(...mapper.map(f.json));
  events.push(mapper.finish());
  return events;
}

describe('recorded qwen-deep-research captures', () => {
  it('map each capture to the right events', () => {
    const one = (name: string) => {
      const decoder = new FrameDecoder();
      const frames = [...decoder.push(capture(name)), ...decoder.end()];
      expect(frames).toHaveLength(1);
      return new QwenMapper().map(frames[0]!.json);
    };
    expect(one('planning-type')).toEqual([
      { type: 'phase', phase: 'planning' },
      { type: 'plan', delta: '本研究聚焦于' },
      { type: 'usage', usage: { inputTokens: 652, outputTokens: 4 } },
    ]);
    expect(one('web-research-streaming-queries').slice(0, 3)).toEqual([
      { type: 'phase', phase: 'searching' },
      { type: 'round', round: 1 },
      { type: 'query', round: 1, delta: '人工智能' },
    ]);
    expect(one('web-research-streaming-queries-research-goal')).toContainEqual({ type: 'goal', round: 1, delta: '深入理解人工智能' });
    const sites = one('web-research-streaming-web-results').find((e) => e.type === 'sites');
    expect(sites?.type === 'sites' && sites.sites.map((s) => s.url)).toHaveLength(7);
    expect(one('web-research-streaming-web-results-learning-map')).toContainEqual({ type: 'learning', round: 2, key: '11', delta: '该' });
    expect(one('web-research-web-result-finished')).toContainEqual({ type: 'round-end', round: 1 });
    expect(one('keep-alive-type')).toEqual([{ type: 'keepalive' }, { type: 'usage', usage: { inputTokens: 652, outputTokens: 97 } }]);
    const answer = one('answer-typing-reference');
    expect(answer).toContainEqual({ type: 'answer', delta: '#' });
    expect(answer).toContainEqual({
      type: 'references',
      references: [
        expect.objectContaining({ index: 1, url: 'https://blog.csdn.net/qq_74383080/article/details/148544524' }),
      ],
    });
  });

  it('give the same events whether fed whole or split at every byte offset', () => {
    // Frames are separated by a blank line; the last one keeps its single trailing newline.
    const stream = Buffer.concat(ORDER.map((n, i) => Buffer.concat([i > 0 ? Buffer.from('\n') : Buffer.alloc(0), capture(n)])));
    const whole = decode([stream]);
    expect(whole.at(-1)).toEqual({
      type: 'done',
      requestId: 'eee227a4-d38f-4b8e-8c7f-167e76dbdc34',
      usage: { inputTokens: 652, outputTokens: 8930 },
    });
    expect(whole.filter((e) => e.type === 'phase').map((e) => e.type === 'phase' && e.phase)).toEqual([
      'planning',
      'searching',
      'writing',
    ]);
    for (let i = 1; i < stream.length; i++) {
      expect(decode([stream.subarray(0, i), stream.subarray(i)]), `split at byte ${i}`).toEqual(whole);
    }
  });

  it('reports a stream that stops before the answer finished as truncated', () => {
    const decoder = new FrameDecoder();
    const mapper = new QwenMapper();
    for (const f of [...decoder.push(capture('answer-typing-reference')), ...decoder.end()]) mapper.map(f.json);
    expect(() => mapper.finish()).toThrow(expect.objectContaining({ code: 'truncated' }));
  });

  it('does not duplicate text when a field arrives cumulative instead of as a delta', () => {
    const mapper = new QwenMapper();
    const frame = (content: string) => ({
      output: { message: { phase: 'answer', status: 'typing', content, extra: { deep_research: {} } } },
    });
    const text = [frame('# Report title'), frame('# Report title, part two'), frame(' and more')]
      .flatMap((f) => mapper.map(f))
      .map((e) => (e.type === 'answer' ? e.delta : ''))
      .join('');
    expect(text).toBe('# Report title, part two and more');
  });
});
