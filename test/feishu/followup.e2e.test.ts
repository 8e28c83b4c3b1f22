import { afterEach, describe, expect, it } from 'vitest';
import { strings } from '../../src/core/i18n.js';
import { markdownOf, type FakeFeishuMessage } from '../fakes/feishu.js';
import { feishuWorld, progressCard, text, type FeishuWorld } from './harness.js';
import { problems } from './card-rules.js';

let w: FeishuWorld;
afterEach(() => w?.close());

const t = strings('en').followup;
const rootOf = (event: Record<string, unknown>) => (event.event as { message: { message_id: string } }).message.message_id;
type ChatMessage = { role: string; content: string };
const chatMessages = (i: number) => (w.ds.chat.requests[i]?.body.input?.messages ?? []) as ChatMessage[];

/** The follow-up answer cards in a thread, in the order posted. */
const answers = (root: string): FakeFeishuMessage[] => w.feishu.thread(root).filter((m) => m.msg_type === 'interactive' && /Question from/.test(text(m)));
/** An answer card once it is finished (green), else undefined. */
const finished = (root: string, i: number) => {
  const card = answers(root)[i];
  return card && (card.content.header as { template?: string }).template === 'green' ? card : undefined;
};

/** A research in a new thread, through to its delivered report; resolves with the thread's root. */
async function finishedReport(topic = 'AI in education'): Promise<string> {
  const event = w.feishu.userMessage({ text: topic, mentionBot: true });
  const root = rootOf(event);
  await w.deliver(event);
  await expect.poll(() => w.feishu.files.size, { timeout: 15_000 }).toBe(1);
  await expect.poll(() => JSON.stringify(progressCard(w, root)?.content ?? {})).toContain('"a":"further"');
  return root;
}

/**
 * A person's question in the thread: a mention, the way Feishu delivers it to any app; `reply`: a plain thread reply,
 * which only an app with the group-message scope (im:message.group_msg) receives.
 */
async function ask(root: string, question: string, user = 'ou_alice', reply = false): Promise<void> {
  await w.deliver(w.feishu.userMessage({ text: question, root, mentionBot: !reply, user }));
}

describe('Feishu follow-up questions after the report', () => {
  it('a question is answered from the report by the chat model, in a card of its own with linked citations; no new research', async () => {
    w = await feishuWorld({ SKIP_CLARIFICATION: 'true' });
    const root = await finishedReport();
    expect(w.ds.requests).toHaveLength(1);

    await ask(root, 'Which study had the largest effect?');
    await expect.poll(() => finished(root, 0), { timeout: 10_000 }).toBeDefined();
    expect(w.ds.chat.requests).toHaveLength(1);
    expect(w.ds.chat.requests[0]!.body.model).toBe('qwen-plus');
    const messages = chatMessages(0);
    expect(messages.at(-1)).toEqual({ role: 'user', content: 'Which study had the largest effect?' });
    // The report and its numbered sources are in what the model reads.
    const context = messages.map((m) => m.content).join('\n');
    expect(context).toContain('Paragraph 1.1: adaptive systems model each learner');
    expect(context).toContain('## Conclusion');
    expect(context).toContain('[1] Source 1 — https://example.org/source-1');
    expect(w.ds.requests).toHaveLength(1);

    const card = finished(root, 0)!;
    expect(card.parent_id).toBe(root);
    const md = markdownOf(card.content).join('\n');
    expect(md).toContain('Question from <at id=ou_alice></at>');
    expect(md).toContain('[\\[1\\]](https://example.org/source-1 "Source 1")');
    expect(md).toContain('[\\[2\\]](https://example.org/source-2 "Source 2")[\\[3\\]](https://example.org/source-3 "Source 3")');
    expect(md).toMatch(/Answered from the report by qwen-plus · [\d,]+ tokens/);
    expect((card.content.header as { title: { content: string } }).title.content).toBe('Which study had the largest effect?');
    // Posted thinking, then patched as the answer streamed in.
    expect(text({ ...card, content: card.history[0]! })).toContain(t.thinking);
    expect(problems(card.content)).toEqual([]);
    expect(w.feishu.refused).toEqual([]);
  }, 30_000);

  it("another person's question (a plain thread reply) is answered too, and a question after several turns sees the earlier answers", async () => {
    w = await feishuWorld({ SKIP_CLARIFICATION: 'true' });
    const root = await finishedReport();
    w.ds.chat.enqueue(
      { answer: 'Alice: the tutoring study [[1]].' },
      { answer: 'Bob: engagement rose by a fifth [[2]].' },
      { answer: 'The report does not cover costs.' },
    );
    await ask(root, 'Which study had the largest effect?', 'ou_alice');
    await expect.poll(() => finished(root, 0), { timeout: 10_000 }).toBeDefined();
    await ask(root, 'How much did engagement change?', 'ou_bob', true);
    await expect.poll(() => finished(root, 1), { timeout: 10_000 }).toBeDefined();
    expect(markdownOf(finished(root, 1)!.content).join('\n')).toContain('Question from <at id=ou_bob></at>');
    expect(markdownOf(finished(root, 1)!.content).join('\n')).toContain('engagement rose by a fifth [\\[2\\]](https://example.org/source-2 "Source 2")');

    await ask(root, 'And what did it cost?', 'ou_carol');
    await expect.poll(() => finished(root, 2), { timeout: 10_000 }).toBeDefined();
    expect(w.ds.chat.requests).toHaveLength(3);
    const third = chatMessages(2);
    expect(third.slice(1)).toEqual([
      { role: 'user', content: 'Which study had the largest effect?' },
      { role: 'assistant', content: 'Alice: the tutoring study [[1]].' },
      { role: 'user', content: 'How much did engagement change?' },
      { role: 'assistant', content: 'Bob: engagement rose by a fifth [[2]].' },
      { role: 'user', content: 'And what did it cost?' },
    ]);
    expect(third[0]!.role).toBe('system');
    expect(third[0]!.content).toContain('## Conclusion');
    expect(text(finished(root, 2)!)).toContain('The report does not cover costs.');
    expect(w.ds.requests).toHaveLength(1);
  }, 30_000);

  it('the per-hour limit answers with a notice and asks the model nothing; it is per person', async () => {
    w = await feishuWorld({ SKIP_CLARIFICATION: 'true', FOLLOWUP_LIMIT_PER_HOUR: '1' });
    const root = await finishedReport();
    await ask(root, 'First question?');
    await expect.poll(() => finished(root, 0), { timeout: 10_000 }).toBeDefined();
    await ask(root, 'Second question?');
    const notice = t.limit(1);
    await expect.poll(() => w.feishu.thread(root).some((m) => text(m).includes(notice))).toBe(true);
    expect(w.ds.chat.requests).toHaveLength(1);
    expect(answers(root)).toHaveLength(1);
    // Someone else still may ask.
    await ask(root, 'My own question?', 'ou_bob');
    await expect.poll(() => finished(root, 1), { timeout: 10_000 }).toBeDefined();
    expect(w.ds.chat.requests.map((r) => (r.body.input?.messages as ChatMessage[]).at(-1)!.content)).toEqual(['First question?', 'My own question?']);
    expect(w.ds.requests).toHaveLength(1);
  }, 30_000);
});
