import { describe, expect, it } from 'vitest';
import { buildReport } from '../../src/core/report.js';
import { liveCapacity } from '../../src/platforms/feishu/live-progress.js';
import { defaultReferences, sampleReport } from '../fakes/dashscope-script.js';
import { markdownOf } from '../fakes/feishu.js';
import { platformHarness, progressView } from './platform-harness.js';

/**
 * The platform driven as the core drives it, across a restart: a second FeishuPlatform (nothing in memory) takes
 * over the thread where the first left it, as after a crash.
 */
describe('Feishu live card across a restart', () => {
  const h = platformHarness();
  const platform = () => h.platform();
  const answer = sampleReport(30, 2);
  const references = defaultReferences().map((r, i) => ({ index: i + 1, url: r.url, title: r.title, description: '' }));
  const report = buildReport({ answer, references, topic: 'AI in education' });
  const view = (state: 'queued' | 'researching' | 'done', draft = '') => progressView(state, draft, references);
  const markdown = (root: string) =>
    h.feishu
      .thread(root)
      .filter((m) => m.msg_type === 'interactive')
      .flatMap((m) => markdownOf(m.content))
      .join('\n');
  const count = (haystack: string, needle: string) => haystack.split(needle).length - 1;

  it('report parts the live card held before the crash stay in it, those from where delivery resumed are posted: each paragraph once', async () => {
    const { root, thread } = h.newThread();
    const a = platform();
    const id = await a.post(thread, view('queued'), 'progress:1');
    await a.update(thread, id, view('researching', answer), false);
    const parts = a.reportParts(thread, report, 'en');
    const body = parts.filter((p) => p.label.startsWith('report'));
    expect(body.length).toBeGreaterThanOrEqual(2);
    const held = liveCapacity(body.map((p) => (p as unknown as { markdown: string }).markdown));
    expect(held).toBeGreaterThanOrEqual(2);
    // Part 1 goes into the live card, which then shows every part it holds; then the process dies.
    await a.postReportPart(thread, parts[0]!, 'report:1:0');
    expect(h.feishu.thread(root)).toHaveLength(1);
    await expect.poll(() => count(markdown(root), 'Paragraph 30.2:')).toBe(held >= body.length ? 1 : 0);
    a.stop();

    // The core resumes at part 2: posted as cards (the new process has no live card), then the final view.
    const b = platform();
    const again = b.reportParts(thread, report, 'en');
    for (let i = 1; i < again.length; i++) await b.postReportPart(thread, again[i]!, `report:1:${i}`);
    await b.update(thread, id, view('done'), true);
    await expect.poll(() => JSON.stringify(h.feishu.messages.get(id)!.content)).toContain('Research finished');
    const md = markdown(root);
    for (let s = 1; s <= 30; s++) for (let p = 1; p <= 2; p++) expect(count(md, `Paragraph ${s}.${p}:`), `paragraph ${s}.${p}`).toBe(1);
    // The card was found by its message id (once when A's tagged reply came back, once when B took the card over)
    // and written with sequences above those used before.
    expect(h.feishu.callsTo(/id_convert$/)).toBe(2);
    const card = h.feishu.cardOf(id)!;
    const seqs = card.ops.map((o) => o.sequence);
    expect(seqs.at(-1)!).toBeGreaterThan(1_000_000);
    await expect.poll(() => card.streaming).toBe(false);
    expect(h.feishu.refused).toEqual([]);
  });
});
