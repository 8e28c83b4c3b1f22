import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { Agent, request, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/core/ports/logger.js';
import { createHttpServer, listen } from '../../src/http.js';
import { tempDbPath } from '../core/harness.js';
import { FakeDashScope } from '../fakes/dashscope.js';
import { APP_ID, APP_SECRET, ENCRYPT_KEY, FakeFeishu, VERIFICATION_TOKEN } from '../fakes/feishu.js';
import { FakeSlack } from '../fakes/slack.js';

/** Text no log line may contain: it is in every body sent below. */
const MARKER = 'PAYLOAD-MARKER-7f3a';

/** The real bot (`npm start`'s entry point) as a child process; its output is kept to check the logs. */
class BotProcess {
  port = 0;
  output = '';
  private child: ChildProcess | undefined;

  constructor(private readonly env: Record<string, string>) {}

  async start(): Promise<this> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env: { ...process.env, ...this.env, PORT: '0', LOG_LEVEL: 'debug' }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.port = await new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        this.output += d.toString();
        const m = /"port":(\d+).*"bot started"/.exec(this.output);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`bot exited with ${code}: ${this.output}`)));
    });
    return this;
  }

  get alive(): boolean {
    return this.child!.exitCode === null && this.child!.signalCode === null;
  }

  async kill(): Promise<void> {
    const child = this.child!;
    if (!this.alive) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}

interface Answer {
  status: number;
  allow?: string;
  body: string;
}

/**
 * One request over its own connection, sent whole even when the answer comes first (so the server has to read
 * or drop the rest); a connection dropped before the answer rejects.
 */
function send(port: number, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  const agent = new Agent({ keepAlive: true });
  return new Promise<Answer>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent, headers: body ? { 'content-length': String(body.length), ...headers } : headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      const answered = new Promise<void>((r) => res.on('end', r));
      const sent = new Promise<void>((r) => (req.writableFinished ? r() : req.on('finish', r)));
      void Promise.all([answered, sent]).then(() => resolve({ status: res.statusCode!, allow: res.headers.allow, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  }).finally(() => agent.destroy());
}

/** Raw bytes over a TCP socket; resolves with everything the server wrote before closing. */
function sendRaw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
    socket.setTimeout(5_000, () => socket.destroy(new Error('no answer within 5 s')));
  });
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'];
const ROUTES = ['/slack/events', '/feishu/events', '/healthz', '/metrics', '/unknown'];
const json = (text: string) => ({ body: Buffer.from(text), type: 'application/json' });
/** `shape: 'not-object'` bodies must get 400 on a webhook; the others 400 or 401 (they are not signed). */
const BODIES: { name: string; body?: Buffer; type?: string; shape?: 'not-object' | 'too-large' }[] = [
  { name: 'no body' },
  { name: 'null', ...json('null'), shape: 'not-object' },
  { name: '[]', ...json('[]'), shape: 'not-object' },
  { name: '""', ...json('""'), shape: 'not-object' },
  { name: 'empty', ...json(''), shape: 'not-object' },
  { name: '"x"', ...json(`"x${MARKER}"`), shape: 'not-object' },
  { name: '1', ...json('1'), shape: 'not-object' },
  { name: 'invalid UTF-8', body: Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0x7b]), type: 'application/json', shape: 'not-object' },
  { name: '5 MB', body: Buffer.alloc(5 * 1024 * 1024, '{'), type: 'application/json', shape: 'too-large' },
  { name: 'an unsigned object', ...json(`{"type":"url_verification","challenge":"${MARKER}","token":"guess"}`) },
  { name: 'text/plain', body: Buffer.from(`hello ${MARKER}`), type: 'text/plain' },
  { name: 'form garbage', body: Buffer.from(`payload=%E0%A4%A&&==%%${MARKER}`), type: 'application/x-www-form-urlencoded' },
  { name: 'form with payload null', body: Buffer.from('payload=null'), type: 'application/x-www-form-urlencoded' },
  { name: 'multipart', body: Buffer.from(`--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\n${MARKER}\r\n--xyz--\r\n`), type: 'multipart/form-data; boundary=xyz' },
];

function expected(method: string, path: string, shape: string | undefined): { status: number[]; allow?: string } {
  if (path === '/unknown') return { status: [404] };
  if (path === '/healthz' || path === '/metrics') return ['GET', 'HEAD'].includes(method) ? { status: [200] } : { status: [405], allow: 'GET, HEAD' };
  if (method !== 'POST') return { status: [405], allow: 'POST' };
  if (shape === 'too-large') return { status: [413] };
  return { status: shape === 'not-object' ? [400] : [400, 401] };
}

let ds: FakeDashScope | undefined;
let slack: FakeSlack | undefined;
let feishu: FakeFeishu | undefined;
let bot: BotProcess | undefined;
afterEach(async () => {
  await bot?.kill();
  await slack?.close();
  await feishu?.close();
  await ds?.close();
});

async function boot(feishuEnv: Record<string, string>): Promise<BotProcess> {
  ds = await new FakeDashScope().start();
  slack = await new FakeSlack().start();
  feishu = await new FakeFeishu().start();
  bot = await new BotProcess({
    DASHSCOPE_API_KEY: 'sk-test',
    DASHSCOPE_BASE_URL: ds.url,
    SLACK_BOT_TOKEN: 'xoxb-test',
    SLACK_SIGNING_SECRET: slack.signingSecret,
    SLACK_API_URL: slack.apiUrl,
    FEISHU_APP_ID: APP_ID,
    FEISHU_APP_SECRET: APP_SECRET,
    FEISHU_DOMAIN: feishu.url,
    FEISHU_CONNECTION: 'webhook',
    STORE_URL: `sqlite:${tempDbPath()}`,
    ...feishuEnv,
  }).start();
  return bot;
}

/** Headers Slack would send for this body, signed with the fake's secret. */
function slackSigned(body: string, type = 'application/json'): Record<string, string> {
  const ts = Math.floor(Date.now() / 1000);
  return { 'content-type': type, 'x-slack-request-timestamp': String(ts), 'x-slack-signature': `v0=${createHmac('sha256', slack!.signingSecret).update(`v0:${ts}:${body}`).digest('hex')}` };
}

const FEISHU_MODES: { mode: string; env: Record<string, string> }[] = [
  { mode: 'encrypted', env: { FEISHU_ENCRYPT_KEY: ENCRYPT_KEY } },
  { mode: 'token-only', env: { FEISHU_ALLOW_TOKEN_ONLY: 'true', FEISHU_VERIFICATION_TOKEN: VERIFICATION_TOKEN } },
];

describe.each(FEISHU_MODES)('transport fuzz against the real process, Slack HTTP mode and Feishu webhook ($mode)', ({ env }) => {
  it('answers every method, route and body with a status, and stays up', async () => {
    const b = await boot(env);
    const wrong: string[] = [];
    for (const path of ROUTES) {
      for (const method of METHODS) {
        for (const { name, body, type, shape } of BODIES) {
          const want = expected(method, path, shape);
          const got = await send(b.port, method, path, body, type ? { 'content-type': type } : {}).catch((err: Error) => ({ status: 0, allow: undefined, body: `dropped: ${err.message}` }));
          if (!want.status.includes(got.status) || got.allow !== want.allow) {
            wrong.push(`${method} ${path} with ${name}: got ${got.status} ${got.allow ?? ''} ${got.body.slice(0, 80)}, expected ${want.status.join('/')} ${want.allow ?? ''}`);
          }
        }
      }
    }
    expect(wrong).toEqual([]);

    // Signed by Slack's secret but not a Slack payload: refused before Bolt, which would fail on `null.ssl_check`.
    for (const [body, type] of [['null'], ['[]'], ['"x"'], ['1'], ['payload=null', 'application/x-www-form-urlencoded']] as [string, string?][]) {
      const res = await send(b.port, 'POST', '/slack/events', Buffer.from(body), slackSigned(body, type));
      expect(res.status, body).toBe(400);
    }
    // The routes still work for their real senders.
    const challenge = JSON.stringify({ type: 'url_verification', challenge: 'c-1', token: 'legacy' });
    expect(await send(b.port, 'POST', '/slack/events', Buffer.from(challenge), slackSigned(challenge))).toMatchObject({ status: 200, body: '{"challenge":"c-1"}' });
    const feishuChallenge = feishu!.webhookRequest({ type: 'url_verification', challenge: 'c-2', token: VERIFICATION_TOKEN }, { encryptKey: env.FEISHU_ENCRYPT_KEY ?? '', timestamp: null });
    expect(await send(b.port, 'POST', '/feishu/events', Buffer.from(feishuChallenge.body), feishuChallenge.headers)).toMatchObject({ status: 200, body: '{"challenge":"c-2"}' });

    // Malformed HTTP: answered 400 (431 for oversized headers) and closed.
    for (const raw of [
      'GARBAGE\r\n\r\n',
      'FOO /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n',
      'POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello',
      'POST /feishu/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot a chunk\r\n\r\n',
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    ]) {
      expect(await sendRaw(b.port, raw), raw.slice(0, 40)).toMatch(/^HTTP\/1\.1 4(00|31) /);
    }

    expect(b.alive).toBe(true);
    expect((await send(b.port, 'GET', '/healthz')).status).toBe(200);
    expect(b.output).not.toContain(MARKER);
  }, 90_000);
});

describe('createHttpServer', () => {
  let server: Server | undefined;
  afterEach(() => new Promise((r) => (server ? server.close(r) : r(undefined))));

  it('answers 500 when a handler throws or rejects, and logs the error without the request body', async () => {
    const logged: object[] = [];
    const logger: Logger = { debug() {}, info() {}, warn: (o) => void logged.push(o), error: (o) => void logged.push(o), child: () => logger };
    let call = 0;
    server = createHttpServer(
      {
        ready: async () => ({ ready: true }),
        slack: () => {
          throw new Error('sync failure');
        },
        feishu: async (req) => {
          for await (const _ of req);
          if (++call === 1) throw Object.assign(new Error('async failure'), { code: 'E_TEST' });
          return new Promise((_, reject) => setImmediate(() => reject(new Error('late failure'))));
        },
      },
      { logger },
    );
    const port = await listen(server, 0, '127.0.0.1');
    const body = Buffer.from(JSON.stringify({ type: 'url_verification', challenge: MARKER }));
    expect((await send(port, 'POST', '/slack/events', body, { 'content-type': 'application/json' })).status).toBe(500);
    expect((await send(port, 'POST', '/feishu/events', body)).status).toBe(500);
    expect((await send(port, 'POST', '/feishu/events', body)).status).toBe(500);
    expect(logged).toEqual([
      { method: 'POST', path: '/slack/events', error: expect.objectContaining({ message: 'sync failure' }) },
      { method: 'POST', path: '/feishu/events', error: expect.objectContaining({ message: 'async failure', code: 'E_TEST' }) },
      { method: 'POST', path: '/feishu/events', error: expect.objectContaining({ message: 'late failure' }) },
    ]);
    expect(JSON.stringify(logged)).not.toContain(MARKER);
  });

  it('bounds how long a client may take to send its request', () => {
    server = createHttpServer({ ready: async () => ({ ready: true }) });
    expect(server.headersTimeout).toBeLessThanOrEqual(10_000);
    expect(server.requestTimeout).toBeGreaterThan(0);
    expect(server.requestTimeout).toBeLessThanOrEqual(30_000);
  });
});
