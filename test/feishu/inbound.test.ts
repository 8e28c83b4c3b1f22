import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderCard } from '../../src/platforms/feishu/cards.js';
import { fromCardAction, fromMessage, MAX_MESSAGE_AGE_MS, messageAgeMs, type CardActionEvent, type MessageEvent } from '../../src/platforms/feishu/inbound.js';
import { threadKey } from '../../src/platforms/feishu/thread-key.js';

/** A payload from test/fixtures/samples/feishu (sources in index.json there). */
function sample<T>(path: string): T {
  return JSON.parse(readFileSync(new URL(`../fixtures/samples/feishu/${path}`, import.meta.url), 'utf8')) as T;
}

/** The envelope flattened as the SDK's EventDispatcher hands it to a handler: header fields and event fields on one level. */
function flat<T>(body: { header: Record<string, unknown>; event: Record<string, unknown> }): T {
  return { ...body.header, ...body.event } as T;
}

const BOT = 'ou_bot';
const THREAD = 'feishu:tenant1:oc_chat_002:om_root';
const contents = sample<{ types: Record<string, { content: unknown }> }>('message-content.json').types;

describe('feishu card callbacks', () => {
  it('a recorded form submit with value {} is the answer, on the card message it came from', () => {
    const body = sample<{ header: Record<string, unknown>; event: { action: { form_value: Record<string, unknown> } } & Record<string, unknown> }>(
      'events/card.action.trigger.form_submit.json',
    );
    // Our form's input is named `answer`; everything else is the recorded payload (value {}, tag button, a name).
    body.event.action.form_value = { ...body.event.action.form_value, answer: '  cost per kWh ' };
    const e = flat<CardActionEvent>(body);
    expect(e.action?.value).toEqual({});
    expect(fromCardAction(e)).toEqual({
      platform: 'feishu',
      kind: 'action',
      action: 'answer',
      text: 'cost per kWh',
      thread: '',
      messageId: 'om_form_001',
      eventId: 'action:ev_form_001',
      user: 'ou_form_user',
      channel: 'oc_chat_002',
    });
  });

  it('a submit of our own form (named submit, no value at all) is the answer too', () => {
    const e: CardActionEvent = {
      event_id: 'ev1',
      operator: { open_id: 'ou_alice' },
      action: { tag: 'button', name: 'submit', form_value: { answer: 'only Europe' } },
      context: { open_message_id: 'om_card', open_chat_id: 'oc_g' },
    };
    expect(fromCardAction(e)).toMatchObject({ kind: 'action', action: 'answer', text: 'only Europe', messageId: 'om_card', thread: '' });
  });

  it('an empty answer is not taken', () => {
    const e: CardActionEvent = {
      operator: { open_id: 'ou_alice' },
      action: { tag: 'button', name: 'submit', value: {}, form_value: { answer: '   ' } },
      context: { open_message_id: 'om_card' },
    };
    expect(fromCardAction(e)).toBeUndefined();
  });

  it('a recorded button callback carries the message id, and the value thread only as a hint', () => {
    const body = sample<{ header: Record<string, unknown>; event: { action: Record<string, unknown> } & Record<string, unknown> }>(
      'events/card.action.trigger.button.json',
    );
    // Its value is the recorded app's; ours carries {a, t}. The shape around it is kept.
    body.event.action.value = { a: 'start-now', t: THREAD };
    expect(fromCardAction(flat<CardActionEvent>(body))).toEqual({
      platform: 'feishu',
      kind: 'action',
      action: 'start-now',
      text: undefined,
      thread: THREAD,
      messageId: 'om_msg_001',
      eventId: 'action:ev_btn_001',
      user: 'ou_operator',
      channel: 'oc_chat_001',
    });
  });

  it('a recorded button callback from a feedback button is a feedback on the thread in its value', () => {
    const body = sample<{ header: Record<string, unknown>; event: { action: Record<string, unknown> } & Record<string, unknown> }>(
      'events/card.action.trigger.button.json',
    );
    body.event.action.value = { a: 'feedback', v: 'bad', t: THREAD };
    expect(fromCardAction(flat<CardActionEvent>(body))).toEqual({
      platform: 'feishu',
      kind: 'feedback',
      value: 'bad',
      thread: THREAD,
      eventId: 'feedback:ev_btn_001',
      user: 'ou_operator',
      channel: 'oc_chat_001',
    });
    // Another click (another event id) is another event, so a changed mind is heard.
    body.header.event_id = 'ev_btn_002';
    body.event.action.value = { a: 'feedback', v: 'good', t: THREAD };
    expect(fromCardAction(flat<CardActionEvent>(body))).toMatchObject({ kind: 'feedback', value: 'good', eventId: 'feedback:ev_btn_002' });
  });

  it('a feedback value without a Feishu thread or with an unknown verdict is nothing', () => {
    const e = (value: unknown): CardActionEvent => ({ event_id: 'ev_1', operator: { open_id: 'ou_alice' }, action: { tag: 'button', value }, context: { open_message_id: 'om_card', open_chat_id: 'oc_chat_002' } });
    expect(fromCardAction(e({ a: 'feedback', v: 'good', t: '' }))).toBeUndefined();
    expect(fromCardAction(e({ a: 'feedback', v: 'good', t: 'slack:T:C:1' }))).toBeUndefined();
    expect(fromCardAction(e({ a: 'feedback', v: 'meh', t: THREAD }))).toBeUndefined();
    expect(fromCardAction(e({ a: 'feedback', v: 'good', t: THREAD }))).toMatchObject({ kind: 'feedback', value: 'good', thread: THREAD, channel: 'oc_chat_002' });
  });

  it("a button of someone else's shape (the recorded value {key: approve}) is not an action", () => {
    const body = sample<{ header: Record<string, unknown>; event: Record<string, unknown> }>('events/card.action.trigger.button.json');
    expect(fromCardAction(flat<CardActionEvent>(body))).toBeUndefined();
  });

  it('a button without any message id falls back to the value thread; neither means nothing to act on', () => {
    const e: CardActionEvent = { operator: { open_id: 'ou_alice' }, action: { tag: 'button', value: { a: 'cancel', t: THREAD } } };
    expect(fromCardAction(e)).toMatchObject({ action: 'cancel', thread: THREAD, channel: 'oc_chat_002' });
    expect(fromCardAction(e)).not.toHaveProperty('messageId');
    expect(fromCardAction({ ...e, action: { tag: 'button', value: {} } })).toBeUndefined();
    expect(fromCardAction({ ...e, action: { tag: 'button', value: { a: 'cancel', t: 'slack:T:C:1' } } })).toBeUndefined();
  });

  it("the clarify card's submit button has a name and form_action_type submit and no behaviors; other buttons keep theirs", () => {
    const card = renderCard({ kind: 'clarify', lang: 'en', topic: 'batteries', state: 'awaiting_answer', question: 'Which market?', open: true }, THREAD);
    const all = nodes(card);
    const form = all.find((n) => n.tag === 'form')!;
    const submit = nodes(form).find((n) => n.tag === 'button')!;
    expect(submit).toMatchObject({ name: 'submit', form_action_type: 'submit' });
    expect(submit).not.toHaveProperty('behaviors');
    expect(nodes(form).find((n) => n.tag === 'input')).toMatchObject({ name: 'answer' });
    const others = all.filter((n) => n.tag === 'button' && n !== submit);
    expect(others.length).toBeGreaterThan(0);
    for (const b of others) expect(b.behaviors).toEqual([{ type: 'callback', value: { a: expect.any(String), t: THREAD } }]);
  });
});

describe('feishu messages the bot cannot read', () => {
  const unreadable = ['image', 'file', 'audio', 'media', 'sticker', 'share_chat', 'merge_forward', 'interactive'];

  function message(type: string, opts: { p2p?: boolean; root?: string; mentions?: unknown[] } = {}): MessageEvent {
    return {
      event_id: 'ev1',
      tenant_key: 'tenant1',
      sender: { sender_id: { open_id: 'ou_alice' }, sender_type: 'user' },
      message: {
        message_id: 'om_m1',
        ...(opts.root ? { root_id: opts.root, parent_id: opts.root } : {}),
        chat_id: 'oc_c',
        chat_type: opts.p2p ? 'p2p' : 'group',
        message_type: type,
        content: JSON.stringify(contents[type]!.content),
        create_time: String(Date.now()),
        ...(opts.mentions ? { mentions: opts.mentions } : {}),
      } as MessageEvent['message'],
    };
  }

  it.each(unreadable)('%s in a direct chat is unsupported, in a thread of its own', (type) => {
    expect(fromMessage(message(type, { p2p: true }), BOT)).toEqual({
      platform: 'feishu',
      kind: 'unsupported',
      what: type,
      thread: threadKey({ tenant: 'tenant1', chat: 'oc_c', root: 'om_m1' }),
      eventId: 'om_m1',
      user: 'ou_alice',
      channel: 'oc_c',
    });
  });

  it('in a direct-chat thread it belongs to the thread of its root', () => {
    expect(fromMessage(message('image', { p2p: true, root: 'om_root' }), BOT)).toMatchObject({
      kind: 'unsupported',
      thread: threadKey({ tenant: 'tenant1', chat: 'oc_c', root: 'om_root' }),
    });
  });

  it.each(unreadable)('%s in a group without a mention of the bot gets nothing (these types carry no mention)', (type) => {
    expect(fromMessage(message(type), BOT)).toBeUndefined();
    expect(fromMessage(message(type, { root: 'om_root' }), BOT)).toBeUndefined();
  });

  it('in a group, one that does @mention the bot is unsupported', () => {
    const mentions = [{ key: '@_user_1', id: { open_id: BOT }, name: 'Deep Research' }];
    expect(fromMessage(message('image', { mentions }), BOT)).toMatchObject({ kind: 'unsupported', what: 'image' });
  });

  it("text and post stay requests; Feishu's system notices and the bot's own messages stay ignored", () => {
    expect(fromMessage(message('text', { p2p: true }), BOT)).toMatchObject({ kind: 'mention', text: '@_user_1 hello' });
    const post = message('text', { p2p: true });
    post.message!.message_type = 'post';
    post.message!.content = JSON.stringify(contents.post_locale!.content);
    expect(fromMessage(post, BOT)).toMatchObject({ kind: 'mention', text: 'Weekly Update Hello @Alice Spec (https://example.com/spec)' });
    const system = message('text', { p2p: true });
    system.message!.message_type = 'system';
    expect(fromMessage(system, BOT)).toBeUndefined();
    const own = message('image', { p2p: true });
    own.sender = { sender_id: { open_id: BOT }, sender_type: 'app' };
    expect(fromMessage(own, BOT)).toBeUndefined();
  });

  it('an odd message_type is named "unknown", not passed on', () => {
    const e = message('image', { p2p: true });
    e.message!.message_type = 'Image<script>';
    expect(fromMessage(e, BOT)).toMatchObject({ kind: 'unsupported', what: 'unknown' });
  });
});

describe('feishu message age', () => {
  it('reads create_time (ms) of the recorded doc example; 12 hours is the limit', () => {
    const e = flat<MessageEvent>(sample('events/im.message.receive_v1.doc-example.json'));
    expect(e.message?.create_time).toBe('1609073151345');
    expect(messageAgeMs(e, 1609073151345 + 5000)).toBe(5000);
    expect(messageAgeMs(e)! > MAX_MESSAGE_AGE_MS).toBe(true);
    expect(MAX_MESSAGE_AGE_MS).toBe(12 * 60 * 60 * 1000);
  });

  it('a message without a usable create_time has no age (taken as before)', () => {
    expect(messageAgeMs({ message: { message_id: 'om', chat_id: 'oc' } })).toBeUndefined();
    expect(messageAgeMs({ message: { message_id: 'om', chat_id: 'oc', create_time: 'soon' } })).toBeUndefined();
  });
});

function nodes(node: unknown): Record<string, unknown>[] {
  if (!node || typeof node !== 'object') return [];
  if (Array.isArray(node)) return node.flatMap(nodes);
  return [node as Record<string, unknown>, ...Object.values(node).flatMap(nodes)];
}
