import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { BOT_OPEN_ID, TENANT } from '../fakes/feishu.js';
import { clarifyCard, feishuWorld, text, type FeishuWorld } from './harness.js';

/**
 * Payloads from test/fixtures/samples/feishu/events (sources in index.json there) delivered into the bot's
 * EventDispatcher, as the long connection and (decrypted) the webhook hand them over.
 */
type Body = { schema: string; header: Record<string, unknown>; event: Record<string, any> };

function sample(name: string): Body {
  return JSON.parse(readFileSync(new URL(`../fixtures/samples/feishu/events/${name}.json`, import.meta.url), 'utf8')) as Body;
}

let w: FeishuWorld;
afterEach(() => w?.close());

/**
 * Feishu's documented example event, addressed to the fake's bot: in it the sender @mentions someone (itself);
 * here the mention is of the bot. Its thread's root is a message the fake's chat holds.
 */
function docExample(createTime: number): { body: Body; root: string } {
  const body = sample('im.message.receive_v1.doc-example');
  const m = body.event.message;
  m.mentions[0].id = { open_id: BOT_OPEN_ID, union_id: 'on_bot', user_id: '' };
  m.mentions[0].name = 'Deep Research';
  m.content = JSON.stringify({ text: '@_user_1 solid-state batteries' });
  m.create_time = String(createTime);
  const root = m.root_id as string;
  w.feishu.messages.set(root, { message_id: root, chat_id: m.chat_id, sender: 'ou_someone', msg_type: 'text', content: { text: 'a thread' }, history: [] });
  return { body, root };
}

describe('Feishu: the recorded payloads reach the bot', () => {
  it("Feishu's example im.message.receive_v1 (a group thread, @mention) gets its question", async () => {
    w = await feishuWorld();
    const { body, root } = docExample(Date.now());
    await w.deliver(body);
    await expect.poll(() => clarifyCard(w, root) && text(clarifyCard(w, root)!)).toContain(w.ds.question.slice(0, 30));
    expect(w.ds.requests[0]!.body.input?.messages).toEqual([{ role: 'user', content: 'solid-state batteries' }]);
  });

  it('the same event through the webhook (encrypted and signed) gets its question', async () => {
    w = await feishuWorld({}, { webhook: true });
    const { body, root } = docExample(Date.now());
    expect((await w.deliver(body)).status).toBe(200);
    await expect.poll(() => clarifyCard(w, root) && text(clarifyCard(w, root)!)).toContain(w.ds.question.slice(0, 30));
  });

  it('a message sent more than 12 hours ago is not taken (the example as published, from 2020; and 13 h old)', async () => {
    w = await feishuWorld();
    const published = docExample(Date.now());
    published.body.event.message.create_time = sample('im.message.receive_v1.doc-example').event.message.create_time;
    await w.deliver(published.body);
    const late = docExample(Date.now() - 13 * 3600_000);
    late.body.event.message.message_id = 'om_late';
    late.body.header.event_id = 'ev_late';
    await w.deliver(late.body);
    // An 11-hour-old redelivery is still within the window.
    const recent = docExample(Date.now() - 11 * 3600_000);
    Object.assign(recent.body.event.message, { message_id: 'om_recent', root_id: 'om_recent_root', parent_id: 'om_recent_root' });
    recent.body.header.event_id = 'ev_recent';
    w.feishu.messages.set('om_recent_root', { message_id: 'om_recent_root', chat_id: recent.body.event.message.chat_id, sender: 'ou_someone', msg_type: 'text', content: {}, history: [] });
    await w.deliver(recent.body);
    await expect.poll(() => clarifyCard(w, 'om_recent_root')).toBeDefined();
    // The question's run starts once its card is posted; the old messages, dropped on arrival, start none.
    await expect.poll(() => w.ds.requests.length).toBe(1);
    expect(w.ds.requests[0]!.body.input?.messages?.[0]?.content).toBe(JSON.parse(recent.body.event.message.content).text.replace(/@_user_\d+\s*/g, '').trim());
    expect(clarifyCard(w, published.root)).toBeUndefined();
  });

  // Needs the engine to find the thread by the card's message id (Inbound.messageId).
  it('the recorded form submit (value {}) on the question card answers it: step 2 starts', async () => {
    w = await feishuWorld();
    const event = w.feishu.userMessage({ text: 'AI in education', mentionBot: true });
    const root = (event.event as { message: { message_id: string } }).message.message_id;
    await w.deliver(event);
    await expect.poll(() => clarifyCard(w, root) && text(clarifyCard(w, root)!)).toContain(w.ds.question.slice(0, 30));
    const card = clarifyCard(w, root)!;
    const submit = sample('card.action.trigger.form_submit');
    expect(submit.event.action.value).toEqual({});
    // Addressed to this thread's card, chat and requester; the form's fields are the ones our card has.
    submit.header = { ...submit.header, create_time: String(Date.now()), tenant_key: TENANT };
    submit.event.operator = { open_id: 'ou_alice' };
    submit.event.context = { open_message_id: card.message_id, open_chat_id: card.chat_id };
    submit.event.action.name = 'submit';
    submit.event.action.form_value = { answer: 'personalised learning' };
    await w.deliver(submit);
    await expect.poll(() => w.ds.requests.length, { timeout: 5000 }).toBe(2);
    expect(w.ds.requests[1]!.body.input?.messages?.map((m) => m.content)).toEqual(['AI in education', w.ds.question, 'personalised learning']);
  });

  // Needs the engine's notice for `unsupported`.
  it('an image in a direct chat gets one short reply and starts nothing', async () => {
    w = await feishuWorld();
    const event = w.feishu.userMessage({ text: 'x', p2p: true, chat: 'oc_p2p' });
    const message = (event.event as { message: Record<string, unknown> }).message;
    Object.assign(message, { message_type: 'image', content: JSON.stringify({ image_key: 'img_1' }) });
    await w.deliver(event);
    await expect.poll(() => w.feishu.thread(String(message.message_id)).length).toBe(1);
    // The person's next message in the chat gets its question: by then the image was handled in full.
    const next = w.feishu.userMessage({ text: 'battery chemistry', p2p: true, chat: 'oc_p2p' });
    await w.deliver(next);
    await expect.poll(() => w.feishu.thread((next.event as { message: { message_id: string } }).message.message_id).length).toBe(1);
    expect(w.feishu.thread(String(message.message_id))).toHaveLength(1);
    await expect.poll(() => w.ds.requests.length).toBe(1);
    expect(w.ds.requests.map((r) => r.body.input?.messages?.map((m) => m.content))).toEqual([['battery chemistry']]);
  });
});
