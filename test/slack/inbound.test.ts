import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ACTIONS } from '../../src/platforms/slack/blocks.js';
import { fromAction, fromMention, fromMessage, type SlackMessageEvent } from '../../src/platforms/slack/inbound.js';
import { threadKey } from '../../src/platforms/slack/thread-key.js';

/** A recorded Events API body from test/fixtures/samples/slack/events (sources in index.json there). */
function sample(name: string): { team_id: string; event: SlackMessageEvent & Record<string, unknown>; authorizations: { user_id: string }[] } {
  return JSON.parse(readFileSync(new URL(`../fixtures/samples/slack/events/${name}.json`, import.meta.url), 'utf8'));
}

/** The bot's user id as Slack gives it for the installation that received the event. */
const botOf = (body: ReturnType<typeof sample>) => body.authorizations[0]!.user_id;

describe('slack inbound: message subtypes from the recorded samples', () => {
  it('a thread_broadcast ("Also send to channel") by a person is a reply in the thread of its thread_ts', () => {
    const body = sample('message.thread_broadcast');
    const e = body.event;
    expect(fromMessage(e, body.team_id, botOf(body))).toEqual({
      platform: 'slack',
      kind: 'reply',
      thread: threadKey({ team: body.team_id, channel: 'C111', threadTs: '1633663824.000500' }),
      eventId: 'C111:1633670813.007500',
      user: 'U111',
      channel: 'C111',
      text: 'Hi there!',
    });
  });

  it("the bot's own thread_broadcast is still ignored (by user id or by bot_id)", () => {
    const body = sample('message.thread_broadcast');
    const bot = botOf(body);
    expect(fromMessage({ ...body.event, user: bot }, body.team_id, bot)).toBeUndefined();
    expect(fromMessage({ ...body.event, bot_id: 'B111' }, body.team_id, bot)).toBeUndefined();
  });

  it('a thread_broadcast that mentions the bot is left to app_mention (counted once by message id)', () => {
    const body = sample('message.thread_broadcast');
    const bot = botOf(body);
    const e = { ...body.event, text: `<@${bot}> Hi there!` };
    expect(fromMessage(e, body.team_id, bot)).toBeUndefined();
    expect(fromMention({ ...e, type: 'app_mention' }, body.team_id, bot)).toMatchObject({ kind: 'mention', eventId: 'C111:1633670813.007500' });
  });

  it('a plain thread reply is a reply', () => {
    const body = sample('message.thread_reply');
    expect(fromMessage(body.event, body.team_id, botOf(body))).toMatchObject({
      kind: 'reply',
      thread: threadKey({ team: body.team_id, channel: 'C00FAKECHAN1', threadTs: '1767406613.568609' }),
      user: 'U00FAKEUSER1',
      text: 'Who are you?',
    });
  });

  it('edits, deletions, joins, other bots and the echo of its own message are ignored', () => {
    for (const name of ['message.message_changed', 'message.message_deleted', 'message.channel_join', 'message.bot_message', 'message.bot_own_echo']) {
      const body = sample(name);
      expect(fromMessage(body.event, body.team_id, botOf(body)), name).toBeUndefined();
    }
  });

  it('the echo of its own message is ignored even in a DM and even when bot_id were missing', () => {
    const body = sample('message.bot_own_echo');
    const bot = botOf(body);
    expect(fromMessage({ ...body.event, channel_type: 'im', thread_ts: undefined }, body.team_id, bot)).toBeUndefined();
    expect(fromMessage({ ...body.event, bot_id: undefined }, body.team_id, bot)).toBeUndefined();
  });

  it('a file share in a DM is a request with its file', () => {
    const body = sample('message.file_share');
    expect(fromMessage(body.event, body.team_id, botOf(body))).toMatchObject({
      kind: 'mention',
      text: 'message message message',
      files: [{ id: 'F04EEHX1EES', name: 'namenamename.txt', size: 12 }],
    });
  });

  it('a /me message counts as what the person wrote: a reply in a thread, a request in a DM, nothing at channel top level', () => {
    const body = sample('message.me_message');
    const bot = 'UBOT';
    expect(fromMessage(body.event, body.team_id, bot)).toBeUndefined();
    expect(fromMessage({ ...body.event, thread_ts: '1355517000.000001' }, body.team_id, bot)).toMatchObject({ kind: 'reply', text: 'is doing that thing' });
    expect(fromMessage({ ...body.event, channel: 'D1', channel_type: 'im' }, body.team_id, bot)).toMatchObject({ kind: 'mention', text: 'is doing that thing' });
  });

  it('subtypes that are not a person writing stay ignored in a thread too', () => {
    const body = sample('message.thread_reply');
    for (const subtype of ['message_changed', 'message_deleted', 'message_replied', 'channel_join', 'bot_message', 'channel_topic']) {
      expect(fromMessage({ ...body.event, subtype }, body.team_id, botOf(body)), subtype).toBeUndefined();
    }
  });

  it('a mention with an image carries it with the media type Slack declares (the core decides what is read)', () => {
    const body = sample('app_mention.files');
    expect(fromMention(body.event, body.team_id, botOf(body))).toMatchObject({
      kind: 'mention',
      files: [{ id: 'F0AD236ATJN', name: 'image.png', size: 214244, mime: 'image/png', url: 'https://files.slack.com/files-pri/T00FAKE00BB-F0XY789ZKLM/download/image.png' }],
    });
    // No declared type: no mime, the file still goes along.
    const files = [{ ...(body.event.files as Record<string, unknown>[])[0]!, mimetype: undefined }] as SlackMessageEvent['files'];
    expect(fromMention({ ...body.event, files }, body.team_id, botOf(body))).toMatchObject({ files: [expect.not.objectContaining({ mime: expect.anything() })] });
  });
});

describe('slack inbound: buttons', () => {
  it('"Research further" is the further action on the thread its value names', () => {
    const thread = 'slack:T1:C1:1700000000.000100';
    expect(fromAction(ACTIONS.further, thread, '1700000001.5', 'U2', 'C1')).toEqual({
      platform: 'slack',
      kind: 'action',
      action: 'further',
      thread,
      eventId: `action:${thread}:${ACTIONS.further}:1700000001.5`,
      user: 'U2',
      channel: 'C1',
    });
    expect(fromAction(ACTIONS.further, 'not-a-thread', '1', 'U2', 'C1')).toBeUndefined();
  });
});
