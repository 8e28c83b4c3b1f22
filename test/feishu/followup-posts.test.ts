import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { strings } from '../../src/core/i18n.js';
import type { View } from '../../src/core/ports/chat.js';
import { silentLogger } from '../../src/core/ports/logger.js';
import { buildReport } from '../../src/core/report.js';
import { FeishuApi } from '../../src/platforms/feishu/api.js';
import { FeishuPlatform } from '../../src/platforms/feishu/outbound.js';
import { CardPatcher } from '../../src/platforms/feishu/patcher.js';
import { threadKey } from '../../src/platforms/feishu/thread-key.js';
import { defaultReferences, sampleReport } from '../fakes/dashscope-script.js';
import { APP_ID, APP_SECRET, FakeFeishu, markdownOf, TENANT } from '../fakes/feishu.js';

/** The platform driven as the core drives it: follow-up answers posted and edited, report parts posted with their ids. */
describe('Feishu follow-up answers and report parts, as the core drives them', () => {
  let feishu: FakeFeishu;
  let api: FeishuApi;
  const platforms: FeishuPlatform[] = [];
  const platform = (cardkit = true) => {
    const p = new FeishuPlatform(api, new CardPatcher(api, silentLogger, 50), silentLogger, { enabled: cardkit, opIntervalMs: 150 });
    platforms.push(p);
    return p;
  };
  const t = strings('en').followup;
  const answer = (state: 'thinking' | 'writing' | 'done', text: string): View => ({
    kind: 'followup',
    lang: 'en',
    asker: 'ou_bob',
    question: 'Which study had the largest effect?',
    state,
    text,
    ...(state === 'done' ? { footer: t.footer('qwen-plus', 900, '¥0.01') } : {}),
  });
  const newThread = () => threadKey({ tenant: TENANT, chat: 'oc_group', root: (feishu.userMessage({ text: 'topic', mentionBot: true }).event as { message: { message_id: string } }).message.message_id });

  beforeEach(async () => {
    feishu = await new FakeFeishu().start();
    api = new FeishuApi({ appId: APP_ID, appSecret: APP_SECRET, domain: feishu.url }, silentLogger);
  });
  afterEach(async () => {
    for (const p of platforms.splice(0)) p.stop();
    await feishu.close();
  });

  it('an answer is a card posted in the thread and patched to its final state', async () => {
    const thread = newThread();
    const p = platform();
    const id = await p.post(thread, answer('thinking', t.thinking), 'followup:1:1');
    await p.update(thread, id, answer('writing', 'The tutoring study'), false);
    await p.update(thread, id, answer('done', 'The tutoring study [\\[1\\]](https://example.org/source-1 "Source 1").'), true);
    await p.drained();
    const msg = feishu.messages.get(id)!;
    expect(msg.card_id).toBeUndefined();
    expect(markdownOf(msg.content).join('\n')).toContain('[\\[1\\]](https://example.org/source-1 "Source 1")');
    expect((msg.content.header as { template: string }).template).toBe('green');
    expect(feishu.refused).toEqual([]);
  });

  it('posting the same tagged answer again (after a restart) finds the message already sent: one card, not two', async () => {
    const thread = newThread();
    const first = await platform().post(thread, answer('thinking', t.thinking), 'followup:1:2');
    const again = await platform().post(thread, answer('thinking', t.thinking), 'followup:1:2');
    expect(again).toBe(first);
    const other = await platform().post(thread, answer('thinking', t.thinking), 'followup:2:2');
    expect(other).not.toBe(first);
    expect(feishu.thread(thread.split(':')[3]!).filter((m) => m.msg_type === 'interactive')).toHaveLength(2);
  });

  it.each([true, false])('report parts resolve with the message they are in (CardKit %s)', async (cardkit) => {
    const thread = newThread();
    const p = platform(cardkit);
    const references = defaultReferences().map((r, i) => ({ index: i + 1, url: r.url, title: r.title, description: '' }));
    const report = buildReport({ answer: sampleReport(), references, topic: 'AI in education' });
    const progress = await p.post(thread, { kind: 'progress', lang: 'en', topic: 'AI in education', state: 'researching' }, 'progress:1');
    const ids: (string | void)[] = [];
    for (const [i, part] of p.reportParts(thread, report, 'en').entries()) ids.push(await p.postReportPart(thread, part, `report:1:${i}`));
    // The first part is in the live card when there is one, else a card of its own; then the references; the file.
    expect(ids[0]).toBe(cardkit ? progress : feishu.thread(thread.split(':')[3]!).find((m) => m.message_id !== progress && m.msg_type === 'interactive')!.message_id);
    expect(feishu.messages.get(String(ids[1]))!.msg_type).toBe('interactive');
    expect(feishu.messages.get(String(ids[2]))!.msg_type).toBe('file');
  });
});
