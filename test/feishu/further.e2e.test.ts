import { afterEach, describe, expect, it } from 'vitest';
import { strings } from '../../src/core/i18n.js';
import { markdownOf, TENANT, type FakeFeishu, type FakeFeishuMessage } from '../fakes/feishu.js';
import { clarifyCard, feishuWorld, progressCard, text, type FeishuWorld } from './harness.js';
import { problems } from './card-rules.js';

let w: FeishuWorld;
afterEach(() => w?.close());

const t = strings('en');
const rootOf = (event: Record<string, unknown>) => (event.event as { message: { message_id: string } }).message.message_id;
const userContent = (i: number) => {
  const content = w.ds.requests[i]?.body.input?.messages?.at(-1)?.content;
  return typeof content === 'string' ? content : JSON.stringify(content);
};
/** The card asking what to focus on (posted when "Research further" is pressed). */
const focusCard = (root: string): FakeFeishuMessage | undefined => w.feishu.thread(root).find((m) => m.msg_type === 'interactive' && text(m).includes(t.followup.focusQuestion));
/** The progress cards of the thread, in the order posted. */
const progressCards = (root: string) => w.feishu.thread(root).filter((m) => m.msg_type === 'interactive' && /Starting the research|Waiting for a free research slot/.test(text({ ...m, content: m.history[0]! })));
const allMarkdown = (root: string) => w.feishu.thread(root).flatMap((m) => (m.msg_type === 'interactive' ? markdownOf(m.content) : [])).join('\n');

const cases: [string, ((f: FakeFeishu) => void) | undefined][] = [
  ['the CardKit live card', undefined],
  ['the patched card (CardKit refused)', (f) => (f.refuseCardKit = true)],
];

describe('Feishu "Research further"', () => {
  it.each(cases)('on %s: the button asks what to focus on, the answer starts one step-2 research, the new report builds on the first', async (_name, fake) => {
    w = await feishuWorld({}, { fake });
    const event = w.feishu.userMessage({ text: 'AI in education', mentionBot: true });
    const root = rootOf(event);
    await w.deliver(event);
    await expect.poll(() => clarifyCard(w, root) && JSON.stringify(clarifyCard(w, root)!.content).includes('"form_action_type":"submit"')).toBe(true);
    await w.deliver(w.feishu.formSubmit(clarifyCard(w, root)!.message_id, 'personalised learning'));
    await expect.poll(() => w.feishu.files.size, { timeout: 15_000 }).toBe(1);
    await expect.poll(() => JSON.stringify(progressCard(w, root)?.content ?? {})).toContain('"a":"further"');
    const first = progressCard(w, root)!;
    expect(text(first)).toContain(`🔍 ${t.followup.button}`);
    expect(problems(first.content)).toEqual([]);
    expect(w.ds.requests).toHaveLength(2);

    // Someone other than the first requester takes it further: the new round is theirs.
    await w.deliver(w.feishu.cardAction(first.message_id, 'further', { user: 'ou_bob' }));
    await expect.poll(() => focusCard(root) && JSON.stringify(focusCard(root)!.content).includes('"form_action_type":"submit"')).toBe(true);
    const focus = focusCard(root)!;
    expect(text(focus)).toContain(`🔍 ${t.followup.button}`);
    expect(text(focus)).not.toContain(t.clarifyIntro);
    expect(problems(focus.content)).toEqual([]);
    // Asking does not research yet.
    expect(w.ds.requests).toHaveLength(2);
    // The card is posted with its form open: a submit is found by the card's id once the bot has recorded it.
    await expect.poll(async () => (await w.bot.store.get(`feishu:${TENANT}:oc_group:${root}`))?.clarifyMessageId).toBe(focus.message_id);

    await w.deliver(w.feishu.formSubmit(focus.message_id, 'costs for rural schools', { user: 'ou_bob' }));
    await expect.poll(() => w.feishu.files.size, { timeout: 15_000 }).toBe(2);
    await expect.poll(() => progressCards(root).length).toBe(2);
    await expect.poll(() => text(progressCards(root)[1]!)).toMatch(/Research finished/);

    expect(w.ds.requests).toHaveLength(3);
    const further = w.ds.requests[2]!.body;
    expect(further.parameters?.enable_feedback).toBe(false);
    expect(further.input?.messages).toHaveLength(1);
    expect(userContent(2)).toContain('costs for rural schools');
    // The earlier report's summary goes with the focus, its citation marks left out.
    expect(userContent(2)).toContain('This report looks at how AI supports personalised learning');
    expect(userContent(2)).not.toContain('[[1]]');
    expect(text(focusCard(root)!)).toContain('costs for rural schools');

    // The second report says what it builds on (Feishu has no message link: the same thread is named).
    expect(allMarkdown(root)).toContain(t.followup.buildsOn('AI in education', undefined).replace(/^\*|\*$/g, ''));
    expect(w.ds.chat.requests).toHaveLength(0);
    // Nothing refused but the rate limits the client waits out (two documents within a second: docx allows 3 calls a
    // second) and, where the app lacks it, CardKit.
    expect(w.feishu.refused.filter((r) => r.code !== 99991400 && r.code !== 230020 && !(fake && r.path.startsWith('/open-apis/cardkit')))).toEqual([]);
  }, 40_000);

  it('pressing it while the thread researches again does nothing', async () => {
    w = await feishuWorld({ SKIP_CLARIFICATION: 'true' });
    const event = w.feishu.userMessage({ text: 'AI in education', mentionBot: true });
    const root = rootOf(event);
    await w.deliver(event);
    await expect.poll(() => JSON.stringify(progressCard(w, root)?.content ?? {}), { timeout: 15_000 }).toContain('"a":"further"');
    const button = w.feishu.cardAction(progressCard(w, root)!.message_id, 'further');
    await w.deliver(button);
    await expect.poll(() => focusCard(root)).toBeDefined();
    // The same card's button again, by another person, while the focus question is open: no second question.
    await w.deliver(w.feishu.cardAction(progressCard(w, root)!.message_id, 'further', { user: 'ou_bob' }));
    // The focus answered starts the new research. Its mention needs a root lookup first, so the click is handled
    // before it; were it handled later, it would find the thread researching (held) and do nothing either way.
    w.ds.pause();
    await w.deliver(w.feishu.userMessage({ text: 'teacher workload', root, mentionBot: true }));
    await expect.poll(() => w.ds.requests.length).toBe(2);
    expect(w.feishu.thread(root).filter((m) => m.msg_type === 'interactive' && text(m).includes(t.followup.focusQuestion))).toHaveLength(1);
    expect(userContent(1)).toContain('teacher workload');
    w.ds.resume();
  }, 30_000);
});
