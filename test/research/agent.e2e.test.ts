import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAgentBackend } from '../../src/research/agent.js';
import { renderAgentTags } from '../../src/research/agent-tags.js';
import { makeEngine, mention, reply } from '../core/harness.js';
import { FakeDashScope, REPORT_FILE_MARK } from '../fakes/dashscope.js';

let fake: FakeDashScope;
beforeEach(async () => {
  fake = await new FakeDashScope().start();
});
afterEach(() => fake.close());

const agentEngine = () =>
  makeEngine(fake, {
    backend: createAgentBackend({ baseUrl: fake.url, apiKey: 'sk-test', agentId: 'aid-test', agentVersion: 'release', timeoutMs: 5000, retries: 1, retryBaseMs: 5, filePollMs: 10 }),
  });

describe('deep-search-agent backend through the engine', () => {
  it('asks its question, researches with the answer, and reports from the downloaded report file with tags rendered', async () => {
    const { engine, platform } = agentEngine();
    await engine.handle(mention('t1', 'solid-state batteries'));
    await expect.poll(() => platform.clarify('t1')?.open).toBe(true);
    expect(platform.clarify('t1')?.question).toBe(fake.question);
    const first = fake.requests[0]!;
    expect(first.path).toBe('/api/v2/apps/deep-search-agent/chat/completions');
    expect(first.body).toMatchObject({ stream: true, parameters: { agent_options: { agent_id: 'aid-test', agent_version: 'release' } } });

    await engine.handle(reply('t1', 'costs and timelines'));
    await expect.poll(() => platform.progress('t1')?.state).toBe('done');
    expect(fake.requests[1]!.body.input?.messages?.map((m) => m.content)).toEqual(['solid-state batteries', fake.question, 'costs and timelines']);
    const last = platform.progress('t1')!;
    expect(last.progress?.rounds.map((r) => r.query)).toEqual(['agent query 1', 'agent query 2', 'agent query 3']);
    expect(last.progress?.sources).toBe(12);
    expect(last.progress?.usage).toEqual({ inputTokens: 900, outputTokens: 2400 });

    const { report } = platform.reports[0]!;
    // The body is the downloaded file, not the streamed text.
    expect(report.body).toContain(REPORT_FILE_MARK);
    expect(report.body).toContain('according to recent reviews[\\[1\\]](https://example.org/source-1');
    expect(report.body).toContain('the review[\\[1\\]]');
    expect(report.body).toContain('industry data[\\[2\\]](https://example.org/source-2');
    expect(report.body).toContain('> Mass production is expected after 2027.');
    expect(report.markdown).not.toMatch(/<\/?qwen:/);
    expect(report.references.map((r) => r.url)).toEqual(['https://example.org/source-1', 'https://example.org/source-2']);
    expect(report.files).toEqual([expect.objectContaining({ name: 'report.html', contentType: 'text/html' })]);
    expect(report.files[0]!.content).toContain('Solid-state batteries in 2026');
    expect(fake.agent.mints).toBe(0);
  });

  it('goes straight to research when the agent needs no question; the question message says so', async () => {
    fake.agentAsks = false;
    const { engine, platform, store } = agentEngine();
    await engine.handle(mention('t2', 'solid-state batteries'));
    await expect.poll(() => platform.progress('t2')?.state).toBe('done');
    expect(fake.requests.filter((r) => r.path.endsWith('/chat/completions'))).toHaveLength(1);
    const first = platform.inThread('t2')[0]!;
    expect(first.views.at(-1)).toMatchObject({ kind: 'notice', text: expect.stringMatching(/No clarifying question/) });
    expect(platform.reports).toHaveLength(1);
    expect(await store.runsOn('U1', new Date().toISOString().slice(0, 10))).toBe(1);
  });

  it('re-mints expired report links through /file/expose', async () => {
    fake.agentAsks = false;
    const { engine, platform } = agentEngine();
    const publish = fake.agent.publish.bind(fake.agent);
    fake.agent.publish = (md) => {
      const links = publish(md);
      fake.agent.expireAll();
      return links;
    };
    await engine.handle(mention('t3', 'topic'));
    await expect.poll(() => platform.reports.length).toBe(1);
    expect(fake.agent.mints).toBe(2);
    expect(platform.reports[0]!.report.body).toContain(REPORT_FILE_MARK);
    expect(platform.reports[0]!.report.files).toHaveLength(1);
  });

  it('an error inside the stream ends the run with a clear, retryable failure', async () => {
    fake.agentAsks = false;
    fake.enqueue({ kind: 'error-frame', afterFrames: 4, status: 500, code: 'InternalError.Algo', message: 'An internal error has occured.' });
    const { engine, platform } = agentEngine();
    await engine.handle(mention('t4', 'topic'));
    await expect.poll(() => platform.progress('t4')?.state).toBe('failed');
    expect(platform.progress('t4')?.failure).toMatchObject({ code: 'unavailable', retryable: true, detail: 'InternalError.Algo' });
  });

  it('uploads attached files as session files; too many or unreadable files are refused with a message', async () => {
    fake.agentAsks = false;
    const { engine, platform, store } = agentEngine();
    platform.attachments.set('F1', Buffer.from('quarterly numbers'));
    platform.attachments.set('F2', Buffer.from('%PDF-1.7 ...'));
    await engine.handle(mention('t5', 'summarise my files', 'U1', 'C1', [
      { id: 'F1', name: 'numbers.csv', size: 17 },
      { id: 'F2', name: 'paper.pdf', size: 12 },
    ]));
    await expect.poll(() => platform.progress('t5')?.state).toBe('done');
    const chat = fake.requests.find((r) => r.path.endsWith('/chat/completions'))!;
    const ids = (chat.body.parameters?.agent_options as { session_files?: string[] }).session_files!;
    expect(ids).toHaveLength(2);
    const uploaded = [...fake.agent.uploads.values()];
    expect(uploaded.map((u) => [u.name, u.data?.toString()])).toEqual([
      ['numbers.csv', 'quarterly numbers'],
      ['paper.pdf', '%PDF-1.7 ...'],
    ]);
    expect(uploaded.map((u) => u.fileId)).toEqual(ids);

    platform.attachments.set('F3', Buffer.from('garbage'));
    await engine.handle(mention('t6', 'read this', 'U2', 'C1', [{ id: 'F3', name: 'corrupt.docx', size: 7 }]));
    await expect.poll(() => platform.progress('t6')?.state ?? platform.clarify('t6')?.state).toBe('failed');
    const failure = platform.progress('t6')?.failure ?? platform.clarify('t6')?.failure;
    expect(failure).toMatchObject({ code: 'file_rejected', retryable: false });
    expect(failure?.detail).toContain('corrupt.docx');

    const many = Array.from({ length: 11 }, (_, i) => ({ id: `M${i}`, name: `f${i}.txt`, size: 1 }));
    for (const f of many) platform.attachments.set(f.id, Buffer.from('x'));
    await engine.handle(mention('t7', 'all of these', 'U3', 'C1', many));
    // Refused by count before anything is downloaded or billed.
    expect(platform.notices('t7')[0]).toMatch(/You attached 11 files; at most 10 can be used/);
    expect(await store.get('t7')).toBeUndefined();
  });
});

describe('agent tags', () => {
  it('turns cite and takeaway tags into citations and quotes, leaving code alone', () => {
    const { markdown, references } = renderAgentTags(
      'A <qwen:cite url="https://a.example/x">claim</qwen:cite> and <qwen:cite url="javascript:alert(1)">bad</qwen:cite>.\n\n<qwen:takeaway>Line one\nline two</qwen:takeaway>\n\n`<qwen:cite url="https://b">code</qwen:cite>`\n\n<qwen:unknown>dropped tag</qwen:unknown>',
    );
    expect(markdown).toContain('A claim[[1]] and bad.');
    expect(markdown).toContain('> Line one\n> line two');
    expect(markdown).toContain('`<qwen:cite url="https://b">code</qwen:cite>`');
    expect(markdown).toContain('dropped tag');
    expect(markdown).not.toContain('<qwen:unknown>');
    expect(references).toEqual([{ index: 1, url: 'https://a.example/x', title: 'a.example', description: '' }]);
  });
});
