import { afterEach, describe, expect, it } from 'vitest';
import { strings } from '../../src/core/i18n.js';
import type { RecordedContent } from '../fakes/dashscope.js';
import { pngBytes } from '../fakes/feishu-messages.js';
import { clarifyCard, feishuWorld, text, type FeishuWorld } from './harness.js';

let w: FeishuWorld;
afterEach(() => w?.close());

const t = strings('en');
const idOf = (event: Record<string, unknown>) => (event.event as { message: { message_id: string } }).message.message_id;
const dataUri = (png: Buffer) => `data:image/png;base64,${png.toString('base64')}`;
/** The image items of a recorded deep-research request, in order. */
const imagesIn = (i: number): string[] =>
  (w.ds.requests[i]?.body.input?.messages ?? []).flatMap((m) => (Array.isArray(m.content) ? (m.content as Exclude<RecordedContent, string>).flatMap((c) => ('image' in c ? [c.image] : [])) : []));
const textOf = (i: number) => (w.ds.requests[i]?.body.input?.messages ?? []).map((m) => (typeof m.content === 'string' ? m.content : m.content.map((c) => ('text' in c ? c.text : '')).join(''))).join('\n');

/** The question card answered by its form, and the report delivered (with its `files` report files). */
async function answerAndFinish(root: string, answer: string, files = 1): Promise<void> {
  await expect.poll(() => clarifyCard(w, root) && JSON.stringify(clarifyCard(w, root)!.content).includes('"form_action_type":"submit"'), { timeout: 10_000 }).toBe(true);
  await w.deliver(w.feishu.formSubmit(clarifyCard(w, root)!.message_id, answer));
  await expect.poll(() => w.feishu.files.size, { timeout: 15_000 }).toBe(files);
}

describe('Feishu pictures go to qwen-deep-research with the request', () => {
  it('a mention in the thread of an image message: step 1 and step 2 each carry the picture, as a PNG data URI', async () => {
    w = await feishuWorld();
    const png = pngBytes([12, 34, 56]);
    const image = w.feishu.userImage({ bytes: png });
    // The picture itself is no request (nobody mentioned the bot); an app with the group-message scope receives it.
    await w.deliver(image);
    const mention = w.feishu.userMessage({ text: 'what does this chart say about battery costs?', root: idOf(image), mentionBot: true });
    await w.deliver(mention);
    // The bot's thread is the picture's: its root is the image message.
    await answerAndFinish(idOf(image), 'costs per kWh');
    expect(w.ds.requests).toHaveLength(2);
    expect(imagesIn(0)).toEqual([dataUri(png)]);
    expect(imagesIn(1)).toEqual([dataUri(png)]);
    expect(textOf(0)).toContain('what does this chart say about battery costs?');
    expect(textOf(1)).toContain('costs per kWh');
    // Downloaded from the image message with the message resource API, once per step.
    expect(w.feishu.callsTo(new RegExp(`^/open-apis/im/v1/messages/${idOf(image)}/resources/img_v3_`))).toBe(2);
    expect(w.feishu.refused).toEqual([]);
  }, 30_000);

  it('a post that mentions the bot with a picture in it: both steps carry it', async () => {
    w = await feishuWorld();
    const png = pngBytes([200, 100, 0]);
    const mention = w.feishu.userMessage({ text: 'explain this diagram', mentionBot: true, images: [png] });
    await w.deliver(mention);
    await answerAndFinish(idOf(mention), 'the overview');
    expect(imagesIn(0)).toEqual([dataUri(png)]);
    expect(imagesIn(1)).toEqual([dataUri(png)]);
    expect(textOf(0)).toBe('explain this diagram');
  }, 30_000);

  it('a sixth picture is named as not sent; the five others go', async () => {
    w = await feishuWorld({ SKIP_CLARIFICATION: 'true' });
    const pngs = Array.from({ length: 6 }, (_, i) => pngBytes([i, i, i]));
    const mention = w.feishu.userMessage({ text: 'compare these charts', mentionBot: true, images: pngs });
    await w.deliver(mention);
    await expect.poll(() => w.feishu.files.size, { timeout: 15_000 }).toBe(1);
    expect(imagesIn(0)).toEqual(pngs.slice(0, 5).map(dataUri));
    const skipped = t.imagesSkipped([t.imageOverCount('image-6.png', 5)]);
    expect(w.feishu.thread(idOf(mention)).some((m) => text(m).includes(skipped))).toBe(true);
  }, 30_000);

  it('a 12 MB picture is refused by its declared size before it is read, and named; nothing is researched', async () => {
    w = await feishuWorld();
    const image = w.feishu.userImage({ bytes: pngBytes([1, 1, 1], 12 * 1024 * 1024) });
    await w.deliver(w.feishu.userMessage({ text: 'what is in this picture?', root: idOf(image), mentionBot: true }));
    await expect.poll(() => clarifyCard(w, idOf(image)) && text(clarifyCard(w, idOf(image))!), { timeout: 10_000 }).toContain('image-1.png is 12 MB, more than the limit of 10 MB');
    expect(text(clarifyCard(w, idOf(image))!)).toContain(t.errors.file_rejected);
    expect(w.ds.requests).toHaveLength(0);
  }, 30_000);
});

describe('Feishu files reach the deep-search agent', () => {
  it("a file message at the thread's root becomes a session file of both steps", async () => {
    w = await feishuWorld({ RESEARCH_BACKEND: 'deep-search-agent', DEEP_SEARCH_AGENT_ID: 'aid-test' });
    const file = w.feishu.userFile('battery-notes.txt', Buffer.from('my own research notes on sodium-ion cells'));
    const mention = w.feishu.userMessage({ text: 'solid-state batteries', root: idOf(file), mentionBot: true });
    await w.deliver(mention);
    // The agent's report comes as .md and .html.
    await answerAndFinish(idOf(file), 'costs', 2);
    const chats = w.ds.requests.filter((r) => r.path.endsWith('/chat/completions'));
    expect(chats).toHaveLength(2);
    for (const c of chats) expect((c.body.parameters?.agent_options as { session_files?: string[] }).session_files).toHaveLength(1);
    const uploads = [...w.ds.agent.uploads.values()];
    expect(uploads.map((u) => u.name)).toContain('battery-notes.txt');
    expect(uploads.every((u) => u.data?.toString() === 'my own research notes on sodium-ion cells')).toBe(true);
    expect(w.feishu.callsTo(new RegExp(`^/open-apis/im/v1/messages/${idOf(file)}/resources/file_v3_`))).toBeGreaterThanOrEqual(1);
  }, 30_000);
});
