import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { APP_ID, APP_SECRET, FakeFeishu } from '../fakes/feishu.js';

/** The fake Feishu's CardKit, called over HTTP as the SDK calls it: the limits it enforces. */
describe('fake Feishu CardKit', () => {
  let feishu: FakeFeishu;
  let token: string;
  const call = async (method: string, path: string, body: unknown) => {
    const res = await fetch(`${feishu.url}/open-apis/cardkit/v1/cards${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, ...((await res.json()) as { code: number; msg: string; data?: { card_id?: string } }) };
  };
  const card = (streaming = true) => ({
    schema: '2.0',
    config: { update_multi: true, streaming_mode: streaming },
    header: { title: { tag: 'plain_text', content: 'T' } },
    body: { elements: [{ tag: 'markdown', element_id: 'report', content: '' }] },
  });
  const create = async (c: unknown = card()) => (await call('POST', '', { type: 'card_json', data: JSON.stringify(c) })).data!.card_id!;
  const text = (id: string, sequence: number, content = `v${sequence}`, uuid?: string) => call('PUT', `/${id}/elements/report/content`, { content, sequence, ...(uuid ? { uuid } : {}) });

  beforeEach(async () => {
    feishu = await new FakeFeishu().start();
    const res = await fetch(`${feishu.url}/open-apis/auth/v3/tenant_access_token/internal`, { method: 'POST', body: JSON.stringify({ app_id: APP_ID, app_secret: APP_SECRET }) });
    token = ((await res.json()) as { tenant_access_token: string }).tenant_access_token;
  });
  afterEach(() => feishu.close());

  it('sequence must rise strictly on every operation of a card (300317), and a repeated uuid takes effect once', async () => {
    const id = await create();
    expect((await text(id, 1)).code).toBe(0);
    expect((await text(id, 1)).code).toBe(300317);
    expect((await call('PATCH', `/${id}/settings`, { settings: JSON.stringify({ config: { summary: { content: 's' } } }), sequence: 1 })).code).toBe(300317);
    expect((await text(id, 0)).code).toBe(300317);
    expect((await text(id, 5, 'five', 'u5')).code).toBe(0);
    expect((await text(id, 5, 'five', 'u5')).code).toBe(0);
    expect(feishu.cards.get(id)!.ops.map((o) => o.sequence)).toEqual([1, 5]);
  });

  it('at most 10 operations a second per card (230020); other cards are not held up', async () => {
    const a = await create();
    const b = await create();
    const codes = await Promise.all(Array.from({ length: 12 }, (_, i) => text(a, i + 1).then((r) => r.code)));
    expect(codes.filter((c) => c === 0)).toHaveLength(10);
    expect(codes.filter((c) => c === 230020)).toHaveLength(2);
    expect((await text(b, 1)).code).toBe(0);
  });

  it('closes streaming after streamingCloseMs: text writes get 200850 once, then 300309; whole updates and settings still work', async () => {
    feishu.streamingCloseMs = 300;
    const id = await create();
    let seq = 0;
    expect((await text(id, ++seq)).code).toBe(0);
    await expect.poll(async () => (await text(id, ++seq)).code, { interval: 100 }).toBe(200850);
    expect((await text(id, ++seq)).code).toBe(300309);
    expect((await call('PUT', `/${id}`, { card: { type: 'card_json', data: JSON.stringify(card(false)) }, sequence: ++seq })).code).toBe(0);
    expect((await call('PATCH', `/${id}/settings`, { settings: JSON.stringify({ config: { streaming_mode: false } }), sequence: ++seq })).code).toBe(0);
    expect(feishu.cards.get(id)!.streaming).toBe(false);
  });

  it('a card entity is sent once, by {"type":"card","data":{"card_id"}}, and its message shows it as it is now', async () => {
    const id = await create();
    const root = (feishu.userMessage({ text: 'x', mentionBot: true }).event as { message: { message_id: string } }).message.message_id;
    const reply = (content: unknown) =>
      fetch(`${feishu.url}/open-apis/im/v1/messages/${root}/reply`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ msg_type: 'interactive', content: JSON.stringify(content), reply_in_thread: true }),
      }).then(async (r) => (await r.json()) as { code: number; data?: { message_id: string } });
    expect((await reply({ card_id: id })).code).toBe(230099);
    const sent = await reply({ type: 'card', data: { card_id: id } });
    expect(sent.code).toBe(0);
    expect((await reply({ type: 'card', data: { card_id: id } })).code).toBe(230099);
    await text(id, 1, 'hello');
    expect(feishu.messages.get(sent.data!.message_id)!.content).toMatchObject({ body: { elements: [{ content: 'hello' }] } });
    expect((await call('POST', '/id_convert', { message_id: sent.data!.message_id })).data).toEqual({ card_id: id });
  });

  it('refuseCardKit: every CardKit call is refused for the missing cardkit:card:write scope (99991672)', async () => {
    feishu.refuseCardKit = true;
    const res = await call('POST', '', { type: 'card_json', data: JSON.stringify(card()) });
    expect(res).toMatchObject({ status: 400, code: 99991672 });
    expect(res.msg).toContain('cardkit:card:write');
  });
});
