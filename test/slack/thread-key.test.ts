import { readFileSync } from 'node:fs';
import { fromMention, fromMessage, type SlackMessageEvent } from '../../src/platforms/slack/inbound.js';
import { parseThreadKey, threadKey, type SlackThread } from '../../src/platforms/slack/thread-key.js';
import { threadKeyContract } from '../contracts/thread-key.js';

type Body = { team_id: string; event: SlackMessageEvent & { ts: string; thread_ts?: string; channel: string }; authorizations: { team_id: string; user_id: string }[] };
const sample = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/samples/slack/events/${name}.json`, import.meta.url), 'utf8')) as Body;

const mention = sample('app_mention.plain');
const reply = sample('message.thread_reply');
const grid = sample('app_mention.enterprise_grid');
const inbound = [
  [mention, fromMention(mention.event, mention.authorizations[0]!.team_id, mention.authorizations[0]!.user_id)!] as const,
  [grid, fromMention(grid.event, grid.authorizations[0]!.team_id, grid.authorizations[0]!.user_id)!] as const,
  [reply, fromMessage(reply.event, reply.authorizations[0]!.team_id, reply.authorizations[0]!.user_id)!] as const,
].map(([body, e]) => ({
  platform: e.platform,
  thread: e.thread,
  in: { team: body.authorizations[0]!.team_id, channel: body.event.channel, threadTs: body.event.thread_ts ?? body.event.ts },
}));

threadKeyContract<SlackThread>({
  platform: 'slack',
  encode: threadKey,
  decode: parseThreadKey,
  samples: [
    { team: 'T1', channel: 'C1', threadTs: '1700000000.000101' },
    { team: 'T1', channel: 'C1', threadTs: '1700000000.000102' },
    { team: 'T1', channel: 'C2', threadTs: '1700000000.000101' },
    { team: 'T2', channel: 'C1', threadTs: '1700000000.000101' },
    // A direct message, and a shared channel seen from an Enterprise Grid workspace.
    { team: 'T00FAKE00AA', channel: 'D0123ABCDEF', threadTs: '1771287144.743569' },
    { team: 'E00FAKEENT01', channel: 'C00FAKECHAN1', threadTs: '1772518347.953719' },
  ],
  unusual: [
    { team: 'T', channel: 'G0-private_group', threadTs: '1.2' },
    { team: 'W0123', channel: 'C'.repeat(200), threadTs: '0000000000.000000' },
    { team: 'T-1_2.3', channel: 'C/1+2=3', threadTs: '1700000000.000100%20' },
    { team: 'T团队', channel: 'Cé #x@y|z', threadTs: '1700000000.000100' },
  ],
  inbound,
});
