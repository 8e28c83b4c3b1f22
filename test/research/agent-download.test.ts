import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger, type Logger } from '../../src/core/ports/logger.js';
import { checkReportLink, createAgentBackend, REPORT_MAX_BYTES, type AgentOptions } from '../../src/research/agent.js';
import { MAX_SESSION_FILE_BYTES, MAX_SESSION_FILES } from '../../src/research/agent-files.js';
import { createQwenBackend } from '../../src/research/qwen.js';
import type { ResearchBackend, ResearchEvent } from '../../src/core/ports/research.js';
import { streamRepeated } from '../fakes/dashscope-agent.js';
import { FakeDashScope, REPORT_FILE_MARK } from '../fakes/dashscope.js';

const GiB = 1024 ** 3;
const MB = 1024 ** 2;

let fake: FakeDashScope;
let secret: Server | undefined;
beforeEach(async () => {
  fake = await new FakeDashScope().start();
  fake.agentAsks = false;
});
afterEach(async () => {
  await fake.close();
  secret?.closeAllConnections();
  await new Promise<void>((resolve) => (secret ? secret.close(() => resolve()) : resolve()));
  secret = undefined;
});

const agent = (opts: Partial<AgentOptions> = {}) =>
  createAgentBackend({ baseUrl: fake.url, apiKey: 'sk-test', agentId: 'aid-test', agentVersion: 'release', timeoutMs: 5000, retries: 1, retryBaseMs: 5, ...opts });

/** Runs one research to its end: the report text and the files beside it. */
async function research(backend: ResearchBackend) {
  const events: ResearchEvent[] = [];
  for await (const e of backend.run({ messages: [{ role: 'user', content: 'solid-state batteries' }], clarify: false, format: 'detailed' })) events.push(e);
  const files = events.find((e) => e.type === 'files');
  return {
    answer: events.map((e) => (e.type === 'answer' ? e.delta : '')).join(''),
    files: files?.type === 'files' ? files.files : [],
  };
}

function rssMb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().rss / MB;
}

/** A server elsewhere on this machine that must never be asked: counts what it gets. */
async function secretServer(): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  secret = createServer((_req, res) => {
    requests++;
    res.end('TOP SECRET');
  });
  await new Promise<void>((resolve) => secret!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(secret.address() as AddressInfo).port}`, requests: () => requests };
}

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { lines, log: { ...silentLogger, warn: (obj, msg) => void lines.push(`${msg} ${JSON.stringify(obj)}`) } };
}

describe('deep-search-agent report links', () => {
  it('the agent backend reads attached files (10, 100 MB each); qwen does not', () => {
    expect(agent().files).toEqual({ maxFiles: MAX_SESSION_FILES, maxBytes: MAX_SESSION_FILE_BYTES });
    expect(MAX_SESSION_FILES).toBe(10);
    expect(MAX_SESSION_FILE_BYTES).toBe(100 * MB);
    expect(createQwenBackend({ baseUrl: fake.url, apiKey: 'k', model: 'm', idleTimeoutMs: 1000 }).files).toBeUndefined();
  });

  it.each([true, false])('a 2 GiB report link (Content-Length sent: %s) is cut at the cap, RSS grows under 50 MB, and the streamed text is the report', async (contentLength) => {
    for (const kind of ['md', 'html'] as const) fake.agent.serveAs.set(kind, (res) => void streamRepeated(res, { total: 2 * GiB, contentLength }));
    // Warm up on the same links: modules, sockets, JIT and the allocator's arenas, which a capped download fills once.
    await research(agent());
    fake.agent.mints = 0;
    const { log, lines } = capture();
    const before = rssMb();
    const out = await research(agent({ log }));
    const grown = rssMb() - before;
    console.info(`2 GiB report link, Content-Length ${contentLength}: RSS grew ${grown.toFixed(1)} MB`);
    expect(grown).toBeLessThan(50);
    expect(out.answer).toContain('Solid-state batteries in 2026');
    expect(out.answer).not.toContain(REPORT_FILE_MARK);
    expect(out.files).toEqual([]);
    // Each link refused, re-minted once, refused again.
    expect(fake.agent.mints).toBe(2);
    expect(lines).toHaveLength(4);
    expect(lines.join('\n')).toMatch(contentLength ? /is 2 GB, more than the limit of 5 MB/ : /larger than 5 MB/);
    expect(REPORT_MAX_BYTES).toEqual({ md_url: 5 * MB, html_url: 10 * MB });
  });

  it('never requests a link into the local network, also when re-minted or redirected to; the report falls back and the log has no signature', async () => {
    const { url, requests } = await secretServer();
    const publish = fake.agent.publish.bind(fake.agent);
    fake.agent.publish = (md) => ({ ...publish(md), md: `${url}/secret?x-oss-signature=SIGNED`, html: `${url}/secret.html?x-oss-signature=SIGNED` });
    const first = capture();
    const minted = await research(agent({ log: first.log }));
    // Refused, then re-minted on the fake's own origin: the real report.
    expect(minted.answer).toContain(REPORT_FILE_MARK);
    expect(minted.answer).not.toContain('TOP SECRET');
    expect(first.lines.join('\n')).toContain(`Report link refused: ${url}/secret is neither https on aliyuncs.com`);

    fake.agent.mintedUrl = (kind) => `${url}/minted.${kind}?x-oss-signature=SIGNED`;
    const both = capture();
    const fallback = await research(agent({ log: both.log }));
    expect(fallback.answer).toContain('Solid-state batteries in 2026');
    expect(fallback.answer).not.toContain(REPORT_FILE_MARK);
    expect(fallback.answer).not.toContain('TOP SECRET');
    expect(fallback.files).toEqual([]);

    // A link on an allowed origin that redirects elsewhere is not followed.
    fake.agent.publish = publish;
    fake.agent.mintedUrl = undefined;
    for (const kind of ['md', 'html'] as const) fake.agent.serveAs.set(kind, (res) => void res.writeHead(302, { location: `${url}/secret` }).end());
    const redirected = capture();
    const out = await research(agent({ log: redirected.log }));
    expect(out.answer).not.toContain('TOP SECRET');
    expect(redirected.lines.join('\n')).toMatch(/redirect, which the bot does not follow/);

    expect(requests()).toBe(0);
    expect([...first.lines, ...both.lines, ...redirected.lines].join('\n')).not.toMatch(/SIGNED|x-oss/);
  });

  it('a trickling report link is given up at the deadline', async () => {
    const held: number[] = [];
    const trickle = (res: ServerResponse) => {
      const start = performance.now();
      res.on('close', () => held.push(performance.now() - start));
      void streamRepeated(res, { total: GiB, chunk: Buffer.from('a'), delayMs: 20 });
    };
    fake.agent.serveAs.set('md', trickle);
    fake.agent.serveAs.set('html', trickle);
    const started = performance.now();
    const out = await research(agent({ downloadTimeoutMs: 400 }));
    expect(out.answer).toContain('Solid-state batteries in 2026');
    expect(out.answer).not.toContain(REPORT_FILE_MARK);
    await expect.poll(() => held.length).toBe(4);
    for (const ms of held) expect(ms).toBeLessThan(400 + 300);
    expect(performance.now() - started).toBeLessThan(4 * 400 + 1500);
  }, 10_000);

  it('allows only https on aliyuncs.com or the DashScope origin, and names no query string when refusing', () => {
    const base = 'https://dashscope.aliyuncs.com';
    const ok = ['https://msearch-cloud.oss-cn-hangzhou.aliyuncs.com/r.md?x-oss-signature=s', 'https://aliyuncs.com/r.md', 'https://dashscope.aliyuncs.com/x'];
    for (const link of ok) expect(checkReportLink(link, base).href).toBe(new URL(link).href);
    expect(checkReportLink('http://127.0.0.1:8089/oss/t1.md', 'http://127.0.0.1:8089').host).toBe('127.0.0.1:8089');
    const refused = [
      'http://msearch-cloud.oss-cn-hangzhou.aliyuncs.com/r.md',
      'https://aliyuncs.com.evil.example/r.md',
      'https://evilaliyuncs.com/r.md',
      'https://127.0.0.1/r.md',
      'http://127.0.0.1:8090/oss/t1.md',
      'file:///etc/passwd',
      'not a url',
    ];
    for (const link of refused) expect(() => checkReportLink(`${link}?x-oss-signature=SIGNED`, 'http://127.0.0.1:8089')).toThrow(/^Report link refused: (?!.*SIGNED)/);
  });
});
