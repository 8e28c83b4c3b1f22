import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createQwenBackend, QWEN_IMAGE_LIMITS } from '../../src/research/qwen.js';
import { agentRequestBody } from '../../src/research/agent.js';
import type { AttachedImage, ResearchEvent, ResearchRequest } from '../../src/core/ports/research.js';
import { FakeDashScope } from '../fakes/dashscope.js';

/** A 1×1 PNG, and a second one that differs in its last bytes. */
const PNG_A = Uint8Array.from(Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64'));
const PNG_B = Uint8Array.from([...PNG_A.slice(0, -4), 1, 2, 3, 4]);

const STEP2: ResearchRequest = {
  messages: [
    { role: 'user', content: 'What do these charts say about battery costs?' },
    { role: 'assistant', content: 'Which aspects?' },
    { role: 'user', content: 'Cell prices per kWh' },
  ],
  clarify: true,
  format: 'detailed',
  images: [
    { name: 'chart-1.png', mime: 'image/png', data: PNG_A },
    { name: 'chart-2.png', mime: 'image/png', data: PNG_B },
  ],
};

let fake: FakeDashScope;
beforeEach(async () => {
  fake = await new FakeDashScope().start();
});
afterEach(() => fake.close());

const backend = () => createQwenBackend({ baseUrl: fake.url, apiKey: 'sk-test', model: 'qwen-deep-research', idleTimeoutMs: 5000, retries: 0 });

async function run(req: ResearchRequest) {
  const events: ResearchEvent[] = [];
  try {
    for await (const e of backend().run(req)) events.push(e);
    return { events, error: undefined };
  } catch (error) {
    return { events, error: error as Error & { code?: string } };
  }
}

describe('images for qwen-deep-research', () => {
  it('declares what it reads', () => {
    expect(backend().images).toEqual({ maxImages: 5, maxBytes: 10 * 1024 * 1024, types: ['image/jpeg', 'image/png', 'image/bmp', 'image/webp'] });
    expect(QWEN_IMAGE_LIMITS).toBe(backend().images);
  });

  it('sends two PNGs as image items before the text of the first user message; the other messages stay strings', async () => {
    const { error, events } = await run(STEP2);
    expect(error).toBeUndefined();
    expect(events.at(-1)?.type).toBe('done');
    const messages = fake.requests[0]!.body.input!.messages!;
    expect(messages[0]).toEqual({
      role: 'user',
      content: [
        { image: `data:image/png;base64,${Buffer.from(PNG_A).toString('base64')}` },
        { image: `data:image/png;base64,${Buffer.from(PNG_B).toString('base64')}` },
        { text: 'What do these charts say about battery costs?' },
      ],
    });
    expect(messages.slice(1)).toEqual(STEP2.messages.slice(1));
    const [first] = messages[0]!.content as { image: string }[];
    expect(first!.image.startsWith('data:image/png;base64,iVBORw0KGgo')).toBe(true);
    expect(Buffer.from(first!.image.split(',')[1]!, 'base64').equals(Buffer.from(PNG_A))).toBe(true);
  });

  it('keeps a string content without images, and encodes a view into a larger buffer exactly', async () => {
    await run({ ...STEP2, images: [] });
    expect(fake.requests[0]!.body.input!.messages![0]!.content).toBe(STEP2.messages[0]!.content);
    const backing = new Uint8Array(PNG_A.length + 10);
    backing.set(PNG_A, 5);
    await run({ ...STEP2, images: [{ name: 'v.png', mime: 'image/png', data: backing.subarray(5, 5 + PNG_A.length) }] });
    const items = fake.requests[1]!.body.input!.messages![0]!.content as { image?: string }[];
    expect(items[0]!.image).toBe(`data:image/png;base64,${Buffer.from(PNG_A).toString('base64')}`);
  });

  const refused: [string, AttachedImage[]][] = [
    ['six images', Array.from({ length: 6 }, (_, i) => ({ name: `${i}.png`, mime: 'image/png', data: PNG_A }))],
    ['a GIF', [{ name: 'anim.gif', mime: 'image/gif', data: PNG_A }]],
    ['an image over 10 MB', [{ name: 'huge.png', mime: 'image/png', data: new Uint8Array(10 * 1024 * 1024 + 1) }]],
  ];
  it.each(refused)('refuses %s before sending anything', async (_name, images) => {
    const { error } = await run({ ...STEP2, images });
    expect(error).toMatchObject({ code: 'file_rejected' });
    expect(fake.requests).toHaveLength(0);
  });

  it('the deep-search agent ignores images', () => {
    const body = agentRequestBody({ agentId: 'aid-1', agentVersion: 'release' }, STEP2, []) as { input: { messages: { content: unknown }[] } };
    expect(body.input.messages.map((m) => m.content)).toEqual(STEP2.messages.map((m) => m.content));
  });
});
