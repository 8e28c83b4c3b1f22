import { afterEach, describe, expect, it } from 'vitest';
import { ACTIONS } from '../../src/platforms/slack/blocks.js';
import type { RecordedContent } from '../fakes/dashscope.js';
import { pngBytes } from '../fakes/slack.js';
import { findButton, mentionEvent, nextTs, replyEvent, slackWorld, type SlackWorld } from './harness.js';

let w: SlackWorld;
afterEach(() => w?.close());

const MB = 1024 * 1024;

/** The image items of a research request's first message, and its text. */
function firstMessage(w: SlackWorld, i: number): { images: string[]; text: string } {
  const content = w.ds.requests[i]!.body.input!.messages![0]!.content as RecordedContent;
  if (typeof content === 'string') return { images: [], text: content };
  return {
    images: content.flatMap((c) => ('image' in c ? [c.image] : [])),
    text: content.flatMap((c) => ('text' in c ? [c.text] : [])).join(''),
  };
}

const dataUri = (bytes: Buffer) => `data:image/png;base64,${bytes.toString('base64')}`;

describe('Slack: images attached to the mention go to qwen-deep-research', () => {
  it('two PNGs: step 1 and step 2 each carry both as base64 data URIs, fetched from Slack with the bot token', async () => {
    w = await slackWorld();
    const files = [w.slack.userImage('chart.png', 3000), w.slack.userImage('screenshot.png', 5000)];
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, { ...mentionEvent('What does this chart say about AI in education?', { ts }), files });
    await expect.poll(() => findButton(w.slack.thread('C1', ts), ACTIONS.startNow), { timeout: 10_000 }).toBeDefined();
    const expected = [dataUri(pngBytes(3000)), dataUri(pngBytes(5000))];
    expect(firstMessage(w, 0)).toEqual({ images: expected, text: 'What does this chart say about AI in education?' });
    expect(w.slack.fileRequests).toBe(2);

    await w.slack.sendEvent(w.endpoint, replyEvent('personalised learning', ts));
    await expect.poll(() => w.slack.files.length, { timeout: 15_000 }).toBe(1);
    expect(w.ds.requests).toHaveLength(2);
    // Step 2 downloads them again (nothing is kept between the steps) and sends them with the topic.
    expect(firstMessage(w, 1).images).toEqual(expected);
    expect(w.ds.requests[1]!.body.input!.messages!.slice(1).map((m) => m.content)).toEqual([w.ds.question, 'personalised learning']);
    expect(w.slack.fileRequests).toBe(4);
    // Nothing was skipped, so nothing is said about it.
    expect(w.slack.thread('C1', ts).some((m) => /Not sent to the research/.test(m.text))).toBe(false);
  });

  it('a sixth image and a 12 MB one are named in the thread as not sent; five go to the research', async () => {
    w = await slackWorld();
    const small = Array.from({ length: 6 }, (_, i) => w.slack.userImage(`photo-${i + 1}.png`, 1000 + i));
    const big = w.slack.userImage('scan.png', 12 * MB);
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, { ...mentionEvent('AI in education', { ts }), files: [...small.slice(0, 2), big, ...small.slice(2)] });
    const notice = () => w.slack.thread('C1', ts).find((m) => /Not sent to the research/.test(m.text));
    await expect.poll(notice, { timeout: 10_000 }).toBeDefined();
    expect(notice()!.text).toContain('scan.png (over 10 MB)');
    expect(notice()!.text).toContain('photo-6.png (at most 5 images are read)');
    expect(notice()!.text).not.toMatch(/photo-[1-5]\.png/);
    await expect.poll(() => w.ds.requests.length, { timeout: 10_000 }).toBe(1);
    expect(firstMessage(w, 0).images).toEqual(Array.from({ length: 5 }, (_, i) => dataUri(pngBytes(1000 + i))));
    // The skipped ones were never downloaded.
    expect(w.slack.fileRequests).toBe(5);
  }, 20_000);
});
