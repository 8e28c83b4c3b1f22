import { describe, expect, it } from 'vitest';
import { strings } from '../../src/core/i18n.js';
import type { View } from '../../src/core/ports/chat.js';
import { buildReport } from '../../src/core/report.js';
import { defaultReferences, sampleReport } from '../fakes/dashscope-script.js';
import { markdownOf } from '../fakes/feishu.js';
import { platformHarness } from './platform-harness.js';

/** The platform driven as the core drives it: follow-up answers posted and edited, report parts posted with their ids. */
describe('Feishu follow-up answers and report parts, as the core drives them', () => {
  const h = platformHarness();
  const platform = (cardkit = true) => h.platform({ cardkit: { enabled: cardkit }, patchMs: 50 });
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
  const newThread = () => h.newThread('topic').thread;

  it('an answer is a card posted in the thread and patched to its final state', async () => {
    const thread = newThread();
    const p = platform();
    const id = await p.post(thread, answer('thinking', t.thinking), 'followup:1:1');
    await p.update(thread, id, answer('writing', 'The tutoring study'), false);
    await p.update(thread, id, answer('done', 'The tutoring study [\\[1\\]](https://example.org/source-1 "Source 1").'), true);
    await p.drained();
    const msg = h.feishu.messages.get(id)!;
    expect(msg.card_id).toBeUndefined();
    expect(markdownOf(msg.content).join('\n')).toContain('[\\[1\\]](https://example.org/source-1 "Source 1")');
    expect((msg.content.header as { template: string }).template).toBe('green');
    expect(h.feishu.refused).toEqual([]);
  });

  it('posting the same tagged answer again (after a restart) finds the message already sent: one card, not two', async () => {
    const thread = newThread();
    const first = await platform().post(thread, answer('thinking', t.thinking), 'followup:1:2');
    const again = await platform().post(thread, answer('thinking', t.thinking), 'followup:1:2');
    expect(again).toBe(first);
    const other = await platform().post(thread, answer('thinking', t.thinking), 'followup:2:2');
    expect(other).not.toBe(first);
    expect(h.feishu.thread(thread.split(':')[3]!).filter((m) => m.msg_type === 'interactive')).toHaveLength(2);
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
    expect(ids[0]).toBe(cardkit ? progress : h.feishu.thread(thread.split(':')[3]!).find((m) => m.message_id !== progress && m.msg_type === 'interactive')!.message_id);
    expect(h.feishu.messages.get(String(ids[1]))!.msg_type).toBe('interactive');
    expect(h.feishu.messages.get(String(ids[2]))!.msg_type).toBe('file');
  });
});
