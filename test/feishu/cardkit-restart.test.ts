import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { View } from '../../src/core/ports/chat.js';
import { silentLogger } from '../../src/core/ports/logger.js';
import { startProgress } from '../../src/core/progress.js';
import { buildReport } from '../../src/core/report.js';
import { FeishuApi } from '../../src/platforms/feishu/api.js';
import { FeishuPlatform } from '../../src/platforms/feishu/outbound.js';
import { liveCapacity } from '../../src/platforms/feishu/live-progress.js';
import { CardPatcher } from '../../src/platforms/feishu/patcher.js';
import { threadKey } from '../../src/platforms/feishu/thread-key.js';
import { defaultReferences, sampleReport } from '../fakes/dashscope-script.js';
import { APP_ID, APP_SECRET, FakeFeishu, markdownOf, TENANT } from '../fakes/feishu.js';

/**
 * The platform driven as the core drives it, across a restart: a second FeishuPlatform (nothing in memory) takes
 * over the thread where the first left it, as after a crash.
 */
describe('Feishu live card across a restart', () => {
  let feishu: FakeFeishu;
  let api: FeishuApi;
  const platforms: FeishuPlatform[] = [];
  const platform = () => {
    const p = new FeishuPlatform(api, new CardPatcher(api, silentLogger, 100), silentLogger, { opIntervalMs: 150 });
    platforms.push(p);
    return p;
  };
  const answer = sampleReport(30, 2);
  const references = defaultReferences().map((r, i) => ({ index: i + 1, url: r.url, title: r.title, description: '' }));
  const report = buildReport({ answer, references, topic: 'AI in education' });
  const view = (state: 'queued' | 'researching' | 'done', draft = ''): View => ({
    kind: 'progress',
    lang: 'en',
    topic: 'AI in education',
    state,
    progress: { ...startProgress(Date.now()), phase: draft ? 'writing' : 'starting', draft, references },
    ...(state === 'done' ? { words: 1000 } : {}),
  });
  const markdown = (root: string) =>
    feishu
      .thread(root)
      .filter((m) => m.msg_type === 'interactive')
      .flatMap((m) => markdownOf(m.content))
      .join('\n');
  const count = (haystack: string, needle: string) => haystack.split(needle).length - 1;

  beforeEach(async () => {
    feishu = await new FakeFeishu().start();
    api = new FeishuApi({ appId: APP_ID, appSecret: APP_SECRET, domain: feishu.url }, silentLogger);
  });
  afterEach(async () => {
    for (const p of platforms.splice(0)) p.stop();
    await feishu.close();
  });

  it('report parts the live card held before the crash stay in it, those from where delivery resumed are posted: each paragraph once', async () => {
    const root = (feishu.userMessage({ text: 'AI in education', mentionBot: true }).event as { message: { message_id: string } }).message.message_id;
    const thread = threadKey({ tenant: TENANT, chat: 'oc_group', root });
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
    expect(feishu.thread(root)).toHaveLength(1);
    await expect.poll(() => count(markdown(root), 'Paragraph 30.2:')).toBe(held >= body.length ? 1 : 0);
    a.stop();

    // The core resumes at part 2: posted as cards (the new process has no live card), then the final view.
    const b = platform();
    const again = b.reportParts(thread, report, 'en');
    for (let i = 1; i < again.length; i++) await b.postReportPart(thread, again[i]!, `report:1:${i}`);
    await b.update(thread, id, view('done'), true);
    await expect.poll(() => JSON.stringify(feishu.messages.get(id)!.content)).toContain('Research finished');
    const md = markdown(root);
    for (let s = 1; s <= 30; s++) for (let p = 1; p <= 2; p++) expect(count(md, `Paragraph ${s}.${p}:`), `paragraph ${s}.${p}`).toBe(1);
    // The card was found by its message id (once when A's tagged reply came back, once when B took the card over)
    // and written with sequences above those used before.
    expect(feishu.callsTo(/id_convert$/)).toBe(2);
    const card = feishu.cardOf(id)!;
    const seqs = card.ops.map((o) => o.sequence);
    expect(seqs.at(-1)!).toBeGreaterThan(1_000_000);
    await expect.poll(() => card.streaming).toBe(false);
    expect(feishu.refused).toEqual([]);
  });
});
