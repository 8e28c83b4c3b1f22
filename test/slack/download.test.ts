import type { ServerResponse } from 'node:http';
import { WebClient } from '@slack/web-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/ports/logger.js';
import type { DownloadLimits, FileRef } from '../../src/core/ports/chat.js';
import type { SlackEditor } from '../../src/platforms/slack/editor.js';
import { SlackPlatform } from '../../src/platforms/slack/outbound.js';
import { streamRepeated } from '../fakes/dashscope-agent.js';
import { FakeSlack } from '../fakes/slack.js';

const MB = 1024 ** 2;
const GB = 1024 ** 3;
const LIMITS: DownloadLimits = { maxBytes: 100 * MB, timeoutMs: 5000 };

let slack: FakeSlack;
let platform: SlackPlatform;
beforeEach(async () => {
  slack = await new FakeSlack().start();
  const web = new WebClient(slack.botToken, { slackApiUrl: slack.apiUrl });
  platform = new SlackPlatform(web, {} as SlackEditor, web, silentLogger, [new URL(slack.url).host]);
});
afterEach(() => slack.close());

/** The FileRef the Slack inbound makes of a message's `files[]` entry. */
function ref(entry: Record<string, unknown>): FileRef {
  return { id: String(entry.id), name: String(entry.name), size: Number(entry.size), url: String(entry.url_private_download) };
}

/** Why a download failed; a success is described by its size, so that a failing test never prints megabytes. */
function failure(download: Promise<Uint8Array>): Promise<string> {
  return download.then(
    (data) => `downloaded ${data.length} bytes`,
    (err: Error) => err.message,
  );
}

function rssMb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss / MB;
}

/** Serves `total` bytes, noting whether the client hung up before the end. */
function served(total: number, opts: { contentLength?: boolean; delayMs?: number; chunk?: Buffer } = {}) {
  const seen = { cut: false, heldMs: 0 };
  const serve = (res: ServerResponse) => {
    const start = performance.now();
    res.on('close', () => Object.assign(seen, { cut: !res.writableFinished, heldMs: performance.now() - start }));
    void streamRepeated(res, { total, ...opts });
  };
  return { seen, serve };
}

describe('Slack attachment downloads', () => {
  it('refuses a 1 GB declared file without requesting it; RSS grows under 50 MB', async () => {
    const { serve } = served(GB, { contentLength: true });
    const file = ref(slack.userFile('dump.bin', Buffer.alloc(0), { size: GB, serve }));
    const before = rssMb();
    const why = await failure(platform.download('t', file, LIMITS));
    const grown = rssMb() - before;
    console.info(`1 GB declared attachment: RSS grew ${grown.toFixed(1)} MB`);
    expect(why).toBe('dump.bin is 1 GB, more than the limit of 100 MB.');
    expect(grown).toBeLessThan(50);
    expect(slack.fileRequests).toBe(0);
  });

  it.each([false, true])('stops at the cap when the body is larger than declared (Content-Length sent: %s)', async (contentLength) => {
    const { seen, serve } = served(50 * MB, { contentLength });
    const file = ref(slack.userFile('notes.txt', Buffer.alloc(0), { size: 1024, serve }));
    expect(await failure(platform.download('t', file, { maxBytes: MB, timeoutMs: 5000 }))).toBe(
      contentLength ? 'notes.txt is 50 MB, more than the limit of 1 MB.' : 'notes.txt is larger than 1 MB, the limit.',
    );
    expect(slack.fileRequests).toBe(1);
    await expect.poll(() => seen.cut).toBe(true);
  });

  it('gives up a trickling file at the deadline', async () => {
    const { seen, serve } = served(GB, { chunk: Buffer.from('a'), delayMs: 20 });
    const file = ref(slack.userFile('slow.pdf', Buffer.alloc(0), { size: 10, serve }));
    const started = performance.now();
    expect(await failure(platform.download('t', file, { maxBytes: MB, timeoutMs: 300 }))).toMatch(/^slow\.pdf took longer than 1 s to download\.$/);
    expect(performance.now() - started).toBeLessThan(1000);
    await expect.poll(() => seen.cut).toBe(true);
  }, 10_000);

  it('downloads a file within the limits; a sign-in redirect or a foreign host is refused in words', async () => {
    const file = ref(slack.userFile('notes.txt', Buffer.from('my notes')));
    expect(Buffer.from(await platform.download('t', file, LIMITS)).toString()).toBe('my notes');

    slack.botToken = 'xoxb-other';
    expect(await failure(platform.download('t', file, LIMITS))).toBe('notes.txt could not be fetched from Slack (it asked the bot to sign in).');
    expect(slack.callsOf('/login')).toEqual([]);

    const requests = slack.fileRequests;
    expect(await failure(platform.download('t', { ...file, url: 'https://evil.example/files-pri/F1/notes.txt' }, LIMITS))).toBe(
      'notes.txt is not stored on Slack, so the bot did not fetch it.',
    );
    expect(slack.fileRequests).toBe(requests);
  });
});
