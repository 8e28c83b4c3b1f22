import { crc32 } from 'node:zlib';
import { WebClient } from '@slack/web-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sniffImage } from '../../src/core/images.js';
import { silentLogger } from '../../src/core/ports/logger.js';
import type { SlackEditor } from '../../src/platforms/slack/editor.js';
import { SlackPlatform } from '../../src/platforms/slack/outbound.js';
import { FakeSlack, pngBytes } from '../fakes/slack.js';

let slack: FakeSlack;
let web: WebClient;
beforeEach(async () => {
  slack = await new FakeSlack().start();
  web = new WebClient(slack.botToken, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true });
});
afterEach(() => slack.close());

/** The chunks of a PNG, each checked against its CRC as a decoder does. */
function pngChunks(data: Buffer): { type: string; length: number; crcOk: boolean }[] {
  const out = [];
  for (let at = 8; at < data.length; ) {
    const length = data.readUInt32BE(at);
    const body = data.subarray(at + 4, at + 8 + length);
    out.push({ type: body.subarray(0, 4).toString('latin1'), length, crcOk: crc32(body) === data.readUInt32BE(at + 8 + length) });
    at += 12 + length;
  }
  return out;
}

describe('fake Slack: chat.getPermalink as Slack answers it', () => {
  it('links a message, a reply in a thread with its thread, and a message people sent', async () => {
    const root = await web.chat.postMessage({ channel: 'C1', text: 'root' });
    const reply = await web.chat.postMessage({ channel: 'C1', text: 'reply', thread_ts: root.ts });
    const top = await web.chat.getPermalink({ channel: 'C1', message_ts: root.ts! });
    expect(top).toMatchObject({ ok: true, channel: 'C1', permalink: `https://fake.slack.com/archives/C1/p${root.ts!.replace('.', '')}` });
    const inThread = await web.chat.getPermalink({ channel: 'C1', message_ts: reply.ts! });
    expect(inThread.permalink).toBe(`https://fake.slack.com/archives/C1/p${reply.ts!.replace('.', '')}?thread_ts=${root.ts}&cid=C1`);
    slack.eventBody({ type: 'app_mention', channel: 'C2', user: 'U1', text: 'hi', ts: '1700000000.000100' });
    expect((await web.chat.getPermalink({ channel: 'C2', message_ts: '1700000000.000100' })).permalink).toBe('https://fake.slack.com/archives/C2/p1700000000000100');
  });

  it('refuses an unknown message or channel with the documented errors, and keeps to its rate limit', async () => {
    const root = await web.chat.postMessage({ channel: 'C1', text: 'root' });
    await expect(web.chat.getPermalink({ channel: 'C1', message_ts: '1.000001' })).rejects.toMatchObject({ data: { ok: false, error: 'message_not_found' } });
    await expect(web.chat.getPermalink({ channel: 'not a channel', message_ts: root.ts! })).rejects.toMatchObject({ data: { error: 'channel_not_found' } });
    slack.limits['chat.getPermalink'] = { max: 2, windowMs: 60_000 };
    await expect(web.chat.getPermalink({ channel: 'C1', message_ts: root.ts! })).rejects.toMatchObject({ code: 'slack_webapi_rate_limited_error' });
    expect(slack.rateLimited['chat.getPermalink']).toBe(1);
  });

  it("the platform's permalink: Slack's link, or undefined when Slack gives none", async () => {
    const platform = new SlackPlatform(web, {} as SlackEditor, web, silentLogger, [new URL(slack.url).host]);
    const root = await web.chat.postMessage({ channel: 'C1', text: 'root' });
    const msg = await web.chat.postMessage({ channel: 'C1', text: 'report', thread_ts: root.ts });
    const thread = `slack:T1:C1:${root.ts}`;
    expect(await platform.permalink(thread, msg.ts!)).toMatch(/^https:\/\/fake\.slack\.com\/archives\/C1\/p\d+\?thread_ts=/);
    expect(await platform.permalink(thread, '1.000001')).toBeUndefined();
    expect(platform.stats.errors.get('message_not_found')).toBe(1);
    platform.stop();
  });
});

describe('fake Slack: attached images', () => {
  it('makes real PNGs of the size asked for: signature, chunks with valid CRCs, read as PNG', () => {
    for (const size of [0, 69, 200, 12 * 1024 * 1024]) {
      const png = pngBytes(size);
      expect(png.length).toBe(Math.max(size, 69));
      expect(sniffImage(png)).toBe('image/png');
      const chunks = pngChunks(png);
      expect(chunks.map((c) => c.type).filter((t) => t !== 'tEXt')).toEqual(['IHDR', 'IDAT', 'IEND']);
      expect(chunks.every((c) => c.crcOk)).toBe(true);
    }
  });

  it('declares type and size in files[] as Slack does, and serves the bytes only with the bot token', async () => {
    const entry = slack.userImage('chart.png', 5000);
    expect(entry).toMatchObject({ name: 'chart.png', size: 5000, mimetype: 'image/png', filetype: 'png' });
    const url = String(entry.url_private_download);
    const ok = await fetch(url, { headers: { authorization: `Bearer ${slack.botToken}` } });
    expect(ok.headers.get('content-type')).toBe('image/png');
    const bytes = Buffer.from(await ok.arrayBuffer());
    expect(bytes.length).toBe(5000);
    expect(sniffImage(bytes)).toBe('image/png');
    const denied = await fetch(String(entry.url_private), { redirect: 'manual' });
    expect(denied.status).toBe(302);
  });
});
