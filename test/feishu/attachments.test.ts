import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/ports/logger.js';
import { FeishuApi } from '../../src/platforms/feishu/api.js';
import { messageFiles, mimeOfName, nameImages, parseResourcePath, postImageKeys, resourcePath } from '../../src/platforms/feishu/attachments.js';
import { fromMessage, linkedMessages, type MessageEvent } from '../../src/platforms/feishu/inbound.js';
import { FeishuResources } from '../../src/platforms/feishu/resources.js';
import { APP_ID, APP_SECRET, BOT_OPEN_ID, FakeFeishu } from '../fakes/feishu.js';
import { pngBytes } from '../fakes/feishu-messages.js';

const contents = (
  JSON.parse(readFileSync(new URL('../fixtures/samples/feishu/message-content.json', import.meta.url), 'utf8')) as { types: Record<string, { content: unknown }> }
).types;
const LIMITS = { maxBytes: 10 * 1024 * 1024, timeoutMs: 5000 };

/** The event as the SDK's dispatcher hands it over (header and event flattened). */
const flat = (e: Record<string, unknown>) => ({ ...(e.header as object), ...(e.event as object) }) as MessageEvent;
const idOf = (e: Record<string, unknown>) => (e.event as { message: { message_id: string } }).message.message_id;

describe('Feishu attachments in messages (received content shapes, test/fixtures/samples/feishu/message-content.json)', () => {
  it('an image message, a file message and the img elements of a post become FileRefs fetched from their message', () => {
    expect(messageFiles('om_1', 'image', JSON.stringify(contents.image!.content))).toEqual([
      { id: 'img_1', name: 'img_1', size: 0, mime: 'image/*', url: '/open-apis/im/v1/messages/om_1/resources/img_1?type=image' },
    ]);
    expect(messageFiles('om_2', 'file', JSON.stringify(contents.file!.content))).toEqual([
      { id: 'file_1', name: 'demo.pdf', size: 0, mime: 'application/pdf', url: '/open-apis/im/v1/messages/om_2/resources/file_1?type=file' },
    ]);
    expect(messageFiles('om_3', 'post', JSON.stringify(contents.post_flat!.content)).map((f) => f.url)).toEqual(['/open-apis/im/v1/messages/om_3/resources/img_v3_xyz?type=image']);
    // A post wrapped in a locale key is read the same way.
    expect(postImageKeys({ zh_cn: { title: '', content: [[{ tag: 'text', text: 'x' }], [{ tag: 'img', image_key: 'img_a' }, { tag: 'img', image_key: 'img_b' }]] } })).toEqual(['img_a', 'img_b']);
  });

  it('leaves out what neither backend reads and what is not a Feishu key', () => {
    for (const type of ['text', 'audio', 'media', 'sticker', 'share_chat', 'interactive', 'merge_forward', 'text_at_all', 'post_locale']) {
      const kind = type.startsWith('post') ? 'post' : type.startsWith('text') ? 'text' : type;
      expect(messageFiles('om_1', kind, JSON.stringify(contents[type]!.content)), type).toEqual([]);
    }
    expect(messageFiles('om_1', 'image', '{"image_key":"../../etc/passwd"}')).toEqual([]);
    expect(messageFiles('om_1/x', 'image', '{"image_key":"img_1"}')).toEqual([]);
    expect(messageFiles('om_1', 'image', 'not json')).toEqual([]);
    expect(messageFiles('om_1', 'file', '{"file_key":"file_9"}')).toMatchObject([{ name: 'file_9', mime: undefined }]);
  });

  it('resource paths round-trip and nothing else parses', () => {
    const ref = { messageId: 'om_1', key: 'img_v3_x-y', type: 'image' as const };
    expect(parseResourcePath(resourcePath(ref))).toEqual(ref);
    for (const bad of [undefined, 'https://evil.example/x', '/open-apis/im/v1/messages/om_1/resources/img_1?type=image&x=1', '/open-apis/im/v1/files/file_1', '/open-apis/im/v1/messages/../resources/img_1?type=image']) {
      expect(parseResourcePath(bad), bad).toBeUndefined();
    }
  });

  it('images are named by their order; a type comes from a file name when it has a known extension', () => {
    const img = (k: string) => messageFiles('om_1', 'image', JSON.stringify({ image_key: k }))[0]!;
    const file = messageFiles('om_2', 'file', JSON.stringify({ file_key: 'file_1', file_name: 'notes.txt' }))[0]!;
    expect(nameImages([img('img_a'), file, img('img_b'), img('img_a')]).map((f) => f.name)).toEqual(['image-1.png', 'notes.txt', 'image-2.png']);
    expect([mimeOfName('a.PDF'), mimeOfName('b.docx'), mimeOfName('c.jpeg'), mimeOfName('d.unknown'), mimeOfName('noext')]).toEqual([
      'application/pdf',
      'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      'image/jpeg',
      undefined,
      undefined,
    ]);
  });
});

describe('Feishu inbound with pictures', () => {
  let feishu: FakeFeishu;
  beforeEach(async () => (feishu = await new FakeFeishu().start()));
  afterEach(() => feishu.close());

  it('a post that mentions the bot with two pictures is a request carrying both, in order', () => {
    const e = feishu.userMessage({ text: 'what does this chart show?', mentionBot: true, images: [pngBytes(), pngBytes([0, 0, 255])] });
    const inbound = fromMessage(flat(e), BOT_OPEN_ID);
    expect(inbound).toMatchObject({ kind: 'mention', text: 'what does this chart show?' });
    const files = (inbound as { files: { name: string; mime: string; url: string }[] }).files;
    expect(files.map((f) => [f.name, f.mime])).toEqual([
      ['image-1.png', 'image/*'],
      ['image-2.png', 'image/*'],
    ]);
    expect(files.every((f) => f.url.startsWith(`/open-apis/im/v1/messages/${idOf(e)}/resources/img_v3_`))).toBe(true);
  });

  it('a reply in a thread carries no files; a mention in a thread links to its root (and the message replied to)', () => {
    const image = feishu.userImage();
    const mention = feishu.userMessage({ text: 'explain', root: idOf(image), mentionBot: true });
    expect(linkedMessages(flat(mention))).toEqual([idOf(image)]);
    expect(linkedMessages(flat(feishu.userMessage({ text: 'top level', mentionBot: true })))).toEqual([]);
    const post = feishu.userMessage({ text: 'no mention', root: idOf(image), images: [pngBytes()] });
    expect(fromMessage(flat(post), BOT_OPEN_ID)).not.toHaveProperty('files');
  });
});

describe('FeishuResources against the fake Open API (message get, message resources)', () => {
  let feishu: FakeFeishu;
  let api: FeishuApi;
  beforeEach(async () => {
    feishu = await new FakeFeishu().start();
    api = new FeishuApi({ appId: APP_ID, appSecret: APP_SECRET, domain: feishu.url }, silentLogger);
  });
  afterEach(() => feishu.close());

  it("a mention in the thread of an image message takes the picture along; the root is looked up once per thread", async () => {
    const r = new FeishuResources(api, silentLogger);
    const image = feishu.userImage({ bytes: pngBytes([1, 2, 3]) });
    const first = feishu.userMessage({ text: 'what is this', root: idOf(image), mentionBot: true, images: [pngBytes([4, 5, 6])] });
    const inbound = await r.withLinked(flat(first), fromMessage(flat(first), BOT_OPEN_ID)!);
    const files = (inbound as { files: { name: string; url: string }[] }).files;
    // The root's picture first (it came first), then the post's own.
    expect(files.map((f) => f.name)).toEqual(['image-1.png', 'image-2.png']);
    expect(files[0]!.url).toContain(`/messages/${idOf(image)}/resources/`);
    expect(Buffer.from(await r.download(files[0] as never, LIMITS)).equals(pngBytes([1, 2, 3]))).toBe(true);
    expect(Buffer.from(await r.download(files[1] as never, LIMITS)).equals(pngBytes([4, 5, 6]))).toBe(true);
    const again = feishu.userMessage({ text: 'and this?', root: idOf(image), mentionBot: true });
    await r.withLinked(flat(again), fromMessage(flat(again), BOT_OPEN_ID)!);
    expect(feishu.callsTo(new RegExp(`^/open-apis/im/v1/messages/${idOf(image)}$`))).toBe(1);
  });

  it('a file message at the root becomes a file with its name and type', async () => {
    const r = new FeishuResources(api, silentLogger);
    const file = feishu.userFile('notes.pdf', Buffer.from('%PDF-1.4 my notes'));
    const mention = feishu.userMessage({ text: 'use my notes', root: idOf(file), mentionBot: true });
    const inbound = await r.withLinked(flat(mention), fromMessage(flat(mention), BOT_OPEN_ID)!);
    const [ref] = (inbound as { files: { name: string; mime?: string; url: string }[] }).files;
    expect(ref).toMatchObject({ name: 'notes.pdf', mime: 'application/pdf' });
    expect(Buffer.from(await r.download(ref as never, LIMITS)).toString()).toBe('%PDF-1.4 my notes');
  });

  it('a root that cannot be read (refused, or too slow) leaves the mention as it is', async () => {
    const image = feishu.userImage();
    const mention = feishu.userMessage({ text: 'explain', root: idOf(image), mentionBot: true });
    const inbound = fromMessage(flat(mention), BOT_OPEN_ID)!;
    feishu.failures.push({ path: /^\/open-apis\/im\/v1\/messages\/[^/]+$/, answer: { status: 400, body: { code: 230002, msg: 'The bot can not be outside the group.' } } });
    expect(await new FeishuResources(api, silentLogger).withLinked(flat(mention), inbound)).toEqual(inbound);
    // Feishu unavailable: the API client retries for 6.5 s (0.5 + 1.5 + 4.5); the lookup gives up after its own bound.
    feishu.failures.push(...Array.from({ length: 4 }, () => ({ path: /^\/open-apis\/im\/v1\/messages\/[^/]+$/, answer: { status: 503, body: { code: 503, msg: 'unavailable' } } })));
    const started = Date.now();
    expect(await new FeishuResources(api, silentLogger, 200).withLinked(flat(mention), inbound)).toEqual(inbound);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('downloads are bounded: a declared size over the limit is refused before the body, naming the file', async () => {
    const r = new FeishuResources(api, silentLogger);
    const big = feishu.userImage({ bytes: pngBytes([9, 9, 9], 12 * 1024 * 1024) });
    const [ref] = messageFiles(idOf(big), 'image', JSON.stringify(feishu.messages.get(idOf(big))!.content));
    await expect(r.download({ ...ref!, name: 'image-1.png' }, LIMITS)).rejects.toThrow(/image-1\.png is 12 MB, more than the limit of 10 MB/);
  });

  it('a refused token is fetched again once; a key that is not in the message is refused by Feishu (234003)', async () => {
    const r = new FeishuResources(api, silentLogger);
    const image = feishu.userImage();
    const [ref] = messageFiles(idOf(image), 'image', JSON.stringify(feishu.messages.get(idOf(image))!.content));
    expect((await r.download(ref!, LIMITS)).length).toBeGreaterThan(60);
    feishu.expireTokens();
    expect((await r.download(ref!, LIMITS)).length).toBeGreaterThan(60);
    expect(feishu.tokensIssued).toBe(2);
    const other = feishu.userImage();
    const stolen = { ...ref!, name: 'image-2.png', url: resourcePath({ messageId: idOf(other), key: ref!.id, type: 'image' }) };
    await expect(r.download(stolen, LIMITS)).rejects.toThrow(/image-2\.png could not be downloaded \(HTTP 400\)/);
    expect(feishu.refused.at(-1)).toEqual({ path: `/open-apis/im/v1/messages/${idOf(other)}/resources/${ref!.id}`, code: 234003 });
    await expect(r.download({ ...ref!, url: 'https://evil.example/x.png' }, LIMITS)).rejects.toThrow(/not an attachment the bot can fetch from Feishu/);
  });
});
