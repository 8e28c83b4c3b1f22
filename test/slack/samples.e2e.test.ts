import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { BOT_USER } from '../fakes/slack.js';
import { slackWorld, type SlackWorld } from './harness.js';

/**
 * Recorded Events API bodies (test/fixtures/samples/slack/events; sources in index.json there) delivered whole,
 * signed as Slack signs them, through the real Bolt receiver. Only the installation's bot user id is replaced by
 * the fake workspace's (it answers auth.test), and fields the index says were trimmed are filled.
 */
type Body = { team_id: string; event_id?: string; event_time?: number; event: Record<string, unknown>; authorizations: { user_id: string }[] } & Record<string, unknown>;

function sample(name: string): Body {
  const body = JSON.parse(readFileSync(new URL(`../fixtures/samples/slack/events/${name}.json`, import.meta.url), 'utf8')) as Body;
  const bot = body.authorizations[0]!.user_id;
  return JSON.parse(JSON.stringify(body).split(bot).join(BOT_USER)) as Body;
}

let w: SlackWorld;
afterEach(() => w?.close());

const deliver = (body: Body) => w.slack.deliver(w.endpoint, JSON.stringify(body), 'application/json');
const question = (channel: string, ts: string) => w.slack.thread(channel, ts).find((m) => m.text.includes(w.ds.question.slice(0, 30)));

describe('Slack: the recorded payloads reach the bot', () => {
  it('app_mention in a channel (recorded; event_id and event_time were trimmed) gets its question', async () => {
    w = await slackWorld();
    const body = sample('app_mention.plain');
    Object.assign(body, { event_id: 'Ev0PLAIN0001', event_time: 1771287144 });
    expect((await deliver(body)).status).toBe(200);
    await expect.poll(() => question('C00FAKECHAN1', '1771287144.743569')).toBeDefined();
    expect(w.ds.requests[0]!.body.input?.messages).toEqual([{ role: 'user', content: 'Hey' }]);
  });

  it('app_mention on an Enterprise Grid workspace gets its question', async () => {
    w = await slackWorld();
    expect((await deliver(sample('app_mention.enterprise_grid'))).status).toBe(200);
    await expect.poll(() => question('C00FAKECHAN1', '1772518347.953719')).toBeDefined();
    expect(w.ds.requests[0]!.body.input?.messages).toEqual([{ role: 'user', content: 'test' }]);
  });

  it('app_mention in a Slack Connect channel (trimmed by the SDK authors: ts, text, event_id filled) gets its question', async () => {
    w = await slackWorld();
    const body = sample('app_mention.shared_channel');
    Object.assign(body.event, { ts: '1700000100.000100', event_ts: '1700000100.000100', text: `<@${BOT_USER}> solid-state batteries` });
    Object.assign(body, { event_id: 'Ev0SHARED001', event_time: 1700000100 });
    expect((await deliver(body)).status).toBe(200);
    await expect.poll(() => question('C04T3ACM40K', '1700000100.000100')).toBeDefined();
    expect(w.ds.requests[0]!.body.input?.messages).toEqual([{ role: 'user', content: 'solid-state batteries' }]);
  });

  it('a recorded thread reply answers the question of the mention it replies to', async () => {
    w = await slackWorld();
    const reply = sample('message.thread_reply');
    const threadTs = String(reply.event.thread_ts);
    // The recording's parent: a mention by the same person (parent_user_id) at thread_ts.
    const mention = sample('app_mention.plain');
    Object.assign(mention.event, { ts: threadTs, event_ts: threadTs, text: `<@${BOT_USER}> AI in education` });
    Object.assign(mention, { event_id: 'Ev0PARENT001', event_time: 1767406613 });
    await deliver(mention);
    await expect.poll(() => question('C00FAKECHAN1', threadTs)).toBeDefined();
    expect((await deliver(reply)).status).toBe(200);
    await expect.poll(() => w.ds.requests.length).toBe(2);
    expect(w.ds.requests[1]!.body.input?.messages?.map((m) => m.content)).toEqual(['AI in education', w.ds.question, 'Who are you?']);
  });

  it('an answer sent with "Also send to channel" (thread_broadcast, Enterprise Grid ids) starts step 2', async () => {
    w = await slackWorld();
    const broadcast = sample('message.thread_broadcast');
    const e = broadcast.event as { thread_ts: string; channel: string; user: string };
    // The thread's root: the person's mention, recorded on Grid, moved to the broadcast's team, channel and thread.
    const mention = sample('app_mention.enterprise_grid');
    Object.assign(mention, { team_id: broadcast.team_id, enterprise_id: broadcast.enterprise_id, event_id: 'Ev0ROOT00001' });
    mention.authorizations = broadcast.authorizations;
    Object.assign(mention.event, { ts: e.thread_ts, event_ts: e.thread_ts, channel: e.channel, user: e.user, team: broadcast.team_id, text: `<@${BOT_USER}> AI in education` });
    await deliver(mention);
    await expect.poll(() => question(e.channel, e.thread_ts)).toBeDefined();
    expect((await deliver(broadcast)).status).toBe(200);
    await expect.poll(() => w.ds.requests.length).toBe(2);
    expect(w.ds.requests[1]!.body.input?.messages?.map((m) => m.content)).toEqual(['AI in education', w.ds.question, 'Hi there!']);
  });

  it("the bot's own broadcast in its thread is not an answer", async () => {
    w = await slackWorld();
    const broadcast = sample('message.thread_broadcast');
    const e = broadcast.event as { thread_ts: string; channel: string; user: string };
    const mention = sample('app_mention.enterprise_grid');
    // In the broadcast's workspace (its authorization), so that both are in the same thread.
    Object.assign(mention, { team_id: broadcast.team_id, event_id: 'Ev0ROOT00002' });
    mention.authorizations = broadcast.authorizations;
    Object.assign(mention.event, { ts: e.thread_ts, event_ts: e.thread_ts, channel: e.channel, user: e.user, team: broadcast.team_id, text: `<@${BOT_USER}> AI in education` });
    await deliver(mention);
    await expect.poll(() => question(e.channel, e.thread_ts)).toBeDefined();
    // The person's own broadcast, delivered after the bot's, is the thread's next event; once it has started step 2,
    // the bot's broadcast before it was handled, and it must not have been taken as the answer.
    const person = sample('message.thread_broadcast');
    Object.assign(person, { event_id: 'Ev0PERSON0002' });
    Object.assign(person.event, { ts: '1633670899.007600', event_ts: '1633670899.007600', text: 'my own answer' });
    Object.assign(broadcast.event, { user: BOT_USER, bot_id: 'BBOT' });
    expect((await deliver(broadcast)).status).toBe(200);
    expect((await deliver(person)).status).toBe(200);
    await expect.poll(() => w.ds.requests.length).toBe(2);
    expect(w.ds.requests[1]!.body.input?.messages?.map((m) => m.content)).toEqual(['AI in education', w.ds.question, 'my own answer']);
  });
});
