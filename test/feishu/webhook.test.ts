import { createHash } from 'node:crypto';
import { Agent, request } from 'node:http';
import type { Server } from 'node:http';
import * as lark from '@larksuiteoapi/node-sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpServer, listen } from '../../src/http.js';
import { webhookHandler } from '../../src/platforms/feishu/webhook.js';
import { ENCRYPT_KEY, encrypt, FakeFeishu, VERIFICATION_TOKEN } from '../fakes/feishu.js';
import { clarifyCard, feishuWorld, text, type FeishuWorld } from './harness.js';

let w: FeishuWorld | undefined;
let server: Server | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

const endpoint = () => `http://127.0.0.1:${w!.bot.port}/feishu/events`;
const rootOf = (event: Record<string, unknown>) => (event.event as { message: { message_id: string } }).message.message_id;
/** Waits until the clarifying question, which step 1 wrote, is in the thread. */
const questionAsked = (root: string) => expect.poll(() => clarifyCard(w!, root) && text(clarifyCard(w!, root)!)).toContain(w!.ds.question.slice(0, 30));
/** The topics DashScope was asked to research (step 1 requests). */
const topics = () => w!.ds.requests.map((r) => r.body.input?.messages?.[0]?.content);
const nowS = () => Math.floor(Date.now() / 1000);
const TWO_DAYS_S = 2 * 24 * 3600;
/** The webhook's body cap (webhook.ts MAX_BODY_BYTES). */
const MAX_BODY_BYTES = 1 << 20;

/** Sends raw bytes; `chunked` streams them without a Content-Length. */
function postRaw(url: string, body: Buffer, opts: { chunked?: boolean } = {}): Promise<{ status: number; body: string }> {
  // Its own agent, closed after the answer, so that no kept-alive socket delays the bot's stop.
  const agent = new Agent({ keepAlive: true });
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json', ...(opts.chunked ? {} : { 'content-length': String(body.length) }) };
    const req = request(url, { method: 'POST', headers, agent }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        agent.destroy();
        resolve({ status: res.statusCode!, body: text });
      });
    });
    req.on('error', reject);
    if (!opts.chunked) return void req.end(body);
    for (let i = 0; i < body.length; i += 64 * 1024) req.write(body.subarray(i, i + 64 * 1024));
    req.end();
  });
}

describe('Feishu webhook: what is refused before anything runs', () => {
  it('answers 400 to any body that is not a JSON object', async () => {
    w = await feishuWorld({}, { webhook: true });
    for (const body of ['null', '[]', '"x"', '1', '', '{', 'true']) {
      const res = await w.feishu.post(endpoint(), { body, headers: { 'content-type': 'application/json', 'x-lark-request-timestamp': String(nowS()) } });
      expect(res.status, body).toBe(400);
      expect(JSON.parse(res.body)).toEqual({ error: 'body is not a JSON object' });
    }
  });

  it('refuses a validly signed event stamped two days ago, and starts nothing', async () => {
    w = await feishuWorld({}, { webhook: true });
    const stale = w.feishu.webhookRequest(w.feishu.userMessage({ text: 'stale topic', mentionBot: true }), { timestamp: nowS() - TWO_DAYS_S });
    const refused = await w.feishu.post(endpoint(), stale);
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body).error).toMatch(/x-lark-request-timestamp is missing or more than 5 minutes off/);
    const missing = await w.feishu.post(endpoint(), w.feishu.webhookRequest(w.feishu.userMessage({ text: 'unstamped topic', mentionBot: true }), { timestamp: null }));
    expect(missing.status).toBe(401);

    // A fresh event after them is researched, and it is the only one.
    const fresh = w.feishu.userMessage({ text: 'fresh topic', mentionBot: true });
    expect((await w.feishu.post(endpoint(), w.feishu.webhookRequest(fresh))).status).toBe(200);
    await questionAsked(rootOf(fresh));
    expect(topics()).toEqual(['fresh topic']);
  });

  it('checks the signature over the raw bytes Feishu signed, as well as over the re-serialised body', async () => {
    w = await feishuWorld({}, { webhook: true });
    const event = w.feishu.userMessage({ text: 'raw bytes topic', mentionBot: true });
    // Spacing that JSON.stringify would not reproduce.
    const body = `{ "encrypt" : "${encrypt(JSON.stringify(event), ENCRYPT_KEY)}" }\n`;
    const [ts, nonce] = [String(nowS()), 'n1'];
    const signature = createHash('sha256').update(ts + nonce + ENCRYPT_KEY + body).digest('hex');
    const headers = { 'content-type': 'application/json', 'x-lark-request-timestamp': ts, 'x-lark-request-nonce': nonce, 'x-lark-signature': signature };
    expect((await w.feishu.post(endpoint(), { body, headers })).status).toBe(200);
    await questionAsked(rootOf(event));
    expect((await w.feishu.post(endpoint(), { body: `${body} `, headers })).status).toBe(401);
  });

  it('answers the encrypted URL challenge without a timestamp, but not a plaintext one when a key is set', async () => {
    w = await feishuWorld({}, { webhook: true });
    const challenge = { type: 'url_verification', challenge: 'c-123', token: VERIFICATION_TOKEN };
    const encrypted = await w.feishu.post(endpoint(), w.feishu.webhookRequest(challenge, { timestamp: null }));
    expect(encrypted).toEqual({ status: 200, body: '{"challenge":"c-123"}' });
    const plain = await w.feishu.post(endpoint(), { body: JSON.stringify(challenge), headers: { 'content-type': 'application/json' } });
    expect(plain.status).toBe(401);
    expect(JSON.parse(plain.body).error).toMatch(/not encrypted: set the Encrypt Key/);
  });

  it('answers 413 to an oversize body, declared in Content-Length or streamed in chunks', async () => {
    w = await feishuWorld({}, { webhook: true });
    const big = Buffer.alloc(MAX_BODY_BYTES + 1, 'a');
    const declared = await postRaw(endpoint(), big);
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body).error).toMatch(/larger than/);
    expect((await postRaw(endpoint(), Buffer.alloc(2 * MAX_BODY_BYTES, 'a'), { chunked: true })).status).toBe(413);
    // The connection and the server are still fine.
    expect((await fetch(`http://127.0.0.1:${w.bot.port}/healthz`)).status).toBe(200);
  });
});

describe('Feishu webhook: a replay of an accepted request', () => {
  it('is refused once its timestamp is more than 5 minutes old', async () => {
    let clock = Date.now();
    const received: unknown[] = [];
    const dispatcher = new lark.EventDispatcher({ encryptKey: ENCRYPT_KEY, loggerLevel: lark.LoggerLevel.error }).register({
      'im.message.receive_v1': async (data) => void received.push(data),
    });
    server = createHttpServer({ ready: async () => ({ ready: true }), feishu: webhookHandler(dispatcher, { encryptKey: ENCRYPT_KEY }, () => clock) });
    const url = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}/feishu/events`;
    const fake = new FakeFeishu();
    const captured = fake.webhookRequest(fake.userMessage({ text: 'replayed topic', mentionBot: true }), { timestamp: Math.floor(clock / 1000) });

    expect((await fake.post(url, captured)).status).toBe(200);
    expect(received).toHaveLength(1);
    clock += 4 * 60_000;
    expect((await fake.post(url, captured)).status).toBe(200);
    clock += 61_000 + 1000;
    const replay = await fake.post(url, captured);
    expect(replay.status).toBe(401);
    expect(received).toHaveLength(2);
    // A clock running ahead counts the same.
    clock -= 2 * 5 * 60_000 + 10_000;
    expect((await fake.post(url, captured)).status).toBe(401);
    expect(received).toHaveLength(2);
  });
});

describe('Feishu webhook, token-only mode (FEISHU_ALLOW_TOKEN_ONLY=true)', () => {
  const tokenOnly = { FEISHU_ENCRYPT_KEY: '', FEISHU_ALLOW_TOKEN_ONLY: 'true', FEISHU_VERIFICATION_TOKEN: VERIFICATION_TOKEN };
  const plain = (payload: Record<string, unknown>, timestamp: number | null = nowS()) => w!.feishu.webhookRequest(payload, { encryptKey: '', timestamp });

  it('accepts the right token with a fresh timestamp, and refuses timestamp 1, a missing one and a wrong token', async () => {
    w = await feishuWorld(tokenOnly, { webhook: true });
    const forged = await w.feishu.post(endpoint(), plain(w.feishu.userMessage({ text: 'forged topic', mentionBot: true }), 1));
    expect(forged.status).toBe(401);
    expect((await w.feishu.post(endpoint(), plain(w.feishu.userMessage({ text: 'unstamped topic', mentionBot: true }), null))).status).toBe(401);
    const wrong = w.feishu.userMessage({ text: 'wrong token topic', mentionBot: true });
    (wrong.header as { token: string }).token = 'not-the-token';
    expect((await w.feishu.post(endpoint(), plain(wrong))).status).toBe(401);

    const good = w.feishu.userMessage({ text: 'token topic', mentionBot: true });
    expect((await w.feishu.post(endpoint(), plain(good))).status).toBe(200);
    await questionAsked(rootOf(good));
    expect(topics()).toEqual(['token topic']);
  });

  it('answers 400 to non-object bodies and answers the challenge only with the token', async () => {
    w = await feishuWorld(tokenOnly, { webhook: true });
    for (const body of ['null', '[]', '"x"', '1']) {
      const res = await w.feishu.post(endpoint(), { body, headers: { 'content-type': 'application/json', 'x-lark-request-timestamp': String(nowS()) } });
      expect(res.status, body).toBe(400);
    }
    const challenge = (token: string) => plain({ type: 'url_verification', challenge: 'c-9', token }, null);
    expect(await w.feishu.post(endpoint(), challenge(VERIFICATION_TOKEN))).toEqual({ status: 200, body: '{"challenge":"c-9"}' });
    expect((await w.feishu.post(endpoint(), challenge('guess'))).status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${w.bot.port}/healthz`)).status).toBe(200);
  });
});
