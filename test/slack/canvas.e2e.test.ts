import { afterEach, describe, expect, it } from 'vitest';
import { defaultReferences, sampleReport } from '../fakes/dashscope-script.js';
import type { CanvasPlan, FakeCanvas } from '../fakes/slack.js';
import { processWorld, type ProcessWorld } from '../ops/bot-process.js';
import { mentionEvent, nextTs, slackWorld, type SlackWorld } from './harness.js';

let w: SlackWorld | undefined;
let pw: ProcessWorld | undefined;
afterEach(async () => {
  await w?.close();
  await pw?.close();
  w = pw = undefined;
});

const CITATION = /\[\[[\d,\s]+\]\]/g;

/** A report over 30,000 characters: sections with citations, tables (one in Chinese, one with a <br>), code, a fourth-level heading, an image, a titled link. */
function bigReport(): string {
  const extra = [
    '## 中文部分：研究发现',
    '',
    '人工智能可以根据每个学习者的知识水平选择下一道练习题，研究显示参与度和成绩都有提高 [[2]]。',
    '',
    '| 系统 | 方法 | 效果 |',
    '| --- | :---: | ---: |',
    '| 导师甲 | 知识追踪 | 提高 12% |',
    '| 导师乙 | 图学习 | 提高 8% |',
    '',
    '#### A fourth-level heading',
    '',
    'A line with an image ![learning curve](https://example.com/curve.png) and a [titled link](https://example.com/page "The title").',
    '',
    '| Cell | With a break |',
    '| --- | --- |',
    '| one<br>two | three |',
    '',
    '```python',
    'print("code stays as written")',
    '```',
    '',
    '### 结论',
    '',
    '数据质量和教师参与是关键。',
  ];
  const report = `${sampleReport(60, 3)}\n\n${extra.join('\n')}\n`;
  expect(report.length).toBeGreaterThan(30_000);
  return report;
}

/** Each line of the report in the canvas: as written, or as canvas Markdown writes it. */
function expectWhole(canvas: string, report: string): void {
  const converted: Record<string, string[]> = {
    '#### A fourth-level heading': ['**A fourth-level heading**'],
    'A line with an image ![learning curve](https://example.com/curve.png) and a [titled link](https://example.com/page "The title").': [
      'A line with an image [learning curve](https://example.com/curve.png) and a [titled link](https://example.com/page).',
    ],
    '| one<br>two | three |': ['| one / two | three |'],
  };
  for (const line of report.split('\n')) {
    if (!line.trim()) continue;
    // A cited line: its text around the citations, which become `[[n](url)]`.
    const expected = converted[line] ?? line.split(CITATION).map((s) => s.trim()).filter(Boolean);
    for (const piece of expected) expect(canvas, line).toContain(piece);
  }
}

async function research(world: SlackWorld, ts: string, channel = 'C1', topic = 'a long topic') {
  await world.slack.sendEvent(world.endpoint, mentionEvent(topic, { ts, channel }));
}

const linksTo = (world: SlackWorld | ProcessWorld, channel: string, ts: string, canvas: FakeCanvas) =>
  world.slack.thread(channel, ts).filter((m) => m.text.includes(`https://fake.slack.com/docs/T1/${canvas.id}`));

describe('the report as a Slack canvas', () => {
  it('a 30,000-character report with tables and Chinese lands whole in a canvas the channel can read, linked from the thread', async () => {
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' });
    const report = bigReport();
    w.ds.script = { ...w.ds.script, report, chunk: 400 };
    const ts = nextTs();
    await research(w, ts);
    await expect.poll(() => w!.slack.files.length, { timeout: 30_000 }).toBe(1);
    expect(w.slack.canvasesLinkedIn('C1', ts)).toHaveLength(1);
    const canvas = [...w.slack.canvases.values()][0]!;
    expect(w.slack.canvases.size).toBe(1);
    expect(canvas.title).toBe('Personalised learning with AI');
    expect(canvas.channel_id).toBeUndefined();
    expectWhole(canvas.markdown, report);
    // Tables stay Markdown tables, row for row.
    for (const row of ['| System | Approach |', '| --- | --- |', '| Tutor A | Knowledge tracing |', '| 系统 | 方法 | 效果 |', '| --- | :---: | ---: |', '| 导师乙 | 图学习 | 提高 8% |']) {
      expect(canvas.markdown).toMatch(new RegExp(`^${row.replace(/[|.*+?^${}()[\]\\]/g, '\\$&')}$`, 'm'));
    }
    // Citations linked, references and the footer there, headings h1–h3 only, no link titles.
    expect(canvas.markdown).toContain('[[1](https://example.org/source-1)]');
    expect(canvas.markdown).toContain('[[2](https://example.org/source-2)][[3](https://example.org/source-3)]');
    for (const r of defaultReferences()) expect(canvas.markdown).toContain(`[${r.title}](${r.url})`);
    expect(canvas.markdown).toContain('## References');
    expect(canvas.markdown).toMatch(/^\*\d+ sources? cited of \d+.*\*$/m);
    expect(canvas.markdown).not.toMatch(/^#{4,} /m);
    expect(canvas.markdown).not.toMatch(/\]\(\S+ "/);
    // The channel reads it; the thread links it once, after access was set; the .md file is there as before.
    expect(canvas.access.get('C1')).toBe('read');
    const link = linksTo(w, 'C1', ts, canvas);
    expect(link).toHaveLength(1);
    expect(link[0]!.text).toContain('|Personalised learning with AI>');
    const linkCall = w.slack.calls.findIndex((c) => c.method === 'chat.postMessage' && String(c.args.text).includes(canvas.id));
    expect(w.slack.calls.findIndex((c) => c.method === 'canvases.access.set')).toBeLessThan(linkCall);
    // Before the file, which stays the last part.
    expect(linkCall).toBeLessThan(w.slack.calls.findIndex((c) => c.method === 'files.completeUploadExternal'));
    expect(w.slack.refused).toEqual([]);
  }, 40_000);

  it.each<CanvasPlan>(['free', 'missing_scope', 'disabled'])('without canvases (%s) the thread is told once per workspace that the .md file is the copy', async (plan) => {
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' });
    w.slack.canvasPlan = plan;
    const first = nextTs();
    await research(w, first, 'C1', 'first topic');
    await expect.poll(() => w!.slack.files.length, { timeout: 15_000 }).toBe(1);
    await expect.poll(() => w!.slack.thread('C1', first).some((m) => /\.md` file in this thread/.test(m.text))).toBe(true);
    const second = nextTs();
    await research(w, second, 'C2', 'second topic');
    await expect.poll(() => w!.slack.files.length, { timeout: 15_000 }).toBe(2);
    await expect.poll(() => w!.slack.thread('C2', second).some((m) => /Research finished/.test(m.text))).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    const notices = [...w.slack.messages.values()].filter((m) => /\.md` file in this thread/.test(m.text));
    expect(notices).toHaveLength(1);
    expect(notices[0]!.text).toContain('canvases:write');
    // Asked once: the second report does not try again.
    expect(w.slack.callsOf('canvases.create')).toHaveLength(1);
    expect(w.slack.canvases.size).toBe(0);
    expect(w.slack.files.map((f) => f.filename)).toEqual(['personalised-learning-with-ai.md', 'personalised-learning-with-ai.md']);
  });

  it('a rate-limited canvases.create waits out Retry-After and still publishes once', async () => {
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' });
    w.slack.fail('canvases.create', 'ratelimited', 429, { 'retry-after': '1' });
    const ts = nextTs();
    await research(w, ts);
    await expect.poll(() => w!.slack.canvasesLinkedIn('C1', ts).length, { timeout: 15_000 }).toBe(1);
    expect(w.slack.callsOf('canvases.create')).toHaveLength(2);
    expect(w.slack.canvases.size).toBe(1);
  });

  it('in a direct message the person who asked gets read access once the canvas is sent to them', async () => {
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' });
    w.slack.dmUsers.set('D1', 'U1');
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, { type: 'message', channel_type: 'im', channel: 'D1', user: 'U1', text: 'battery chemistry', ts });
    await expect.poll(() => w!.slack.canvasesLinkedIn('D1', ts).length, { timeout: 15_000 }).toBe(1);
    const canvas = [...w.slack.canvases.values()][0]!;
    await expect.poll(() => canvas.access.get('U1')).toBe('read');
    expect(w.slack.refused).toEqual([]);
  });

  it('a canvas link posted just before a crash is found after the restart: the canvas is not published twice', async () => {
    pw = await processWorld({ SKIP_CLARIFICATION: 'true' });
    let bot = await pw.boot();
    const ts = nextTs();
    pw.slack.stallAfter = (method, args) => method === 'chat.postMessage' && String(args.text).includes('/docs/T1/');
    await pw.slack.sendEvent(bot.endpoint, mentionEvent('topic', { ts }));
    await expect.poll(() => pw!.slack.stalled.length, { timeout: 20_000 }).toBe(1);
    await bot.kill();
    pw.slack.stallAfter = undefined;
    bot = await pw.boot();
    await expect.poll(() => pw!.slack.thread('C1', ts).some((m) => /Research finished/.test(m.text)), { timeout: 20_000 }).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(pw.slack.canvases.size).toBe(1);
    expect(linksTo(pw, 'C1', ts, [...pw.slack.canvases.values()][0]!)).toHaveLength(1);
    expect(pw.slack.files).toHaveLength(1);
  }, 60_000);
});
