import { readFileSync } from 'node:fs';
import { fromMessage, type MessageEvent } from '../../src/platforms/feishu/inbound.js';
import { parseThreadKey, threadKey, type FeishuThread } from '../../src/platforms/feishu/thread-key.js';
import { threadKeyContract } from '../contracts/thread-key.js';

/** Feishu's documented im.message.receive_v1 example, flattened as the SDK's EventDispatcher hands it over. */
const body = JSON.parse(readFileSync(new URL('../fixtures/samples/feishu/events/im.message.receive_v1.doc-example.json', import.meta.url), 'utf8')) as {
  header: Record<string, string>;
  event: { message: { root_id: string; message_id: string; chat_id: string; } } & Record<string, unknown>;
};
const event = { ...body.header, ...body.event } as MessageEvent;
// A person's reply in a thread (the example @mentions its own sender, so the bot is someone else here).
const mapped = fromMessage(event, 'ou_bot');

threadKeyContract<FeishuThread>({
  platform: 'feishu',
  encode: threadKey,
  decode: parseThreadKey,
  samples: [
    { tenant: '2ca1d211f64f6438', chat: 'oc_5ce6d572455d361153b7xx51da133945', root: 'om_5ce6d572455d361153b7cb51da133945' },
    { tenant: '2ca1d211f64f6438', chat: 'oc_5ce6d572455d361153b7xx51da133945', root: 'om_5ce6d572455d361153b7cb51da133946' },
    { tenant: '2ca1d211f64f6438', chat: 'oc_other', root: 'om_5ce6d572455d361153b7cb51da133945' },
    { tenant: '736588c9260f175e', chat: 'oc_5ce6d572455d361153b7xx51da133945', root: 'om_5ce6d572455d361153b7cb51da133945' },
    // A direct chat, where every top-level message is its own thread.
    { tenant: 't', chat: 'oc_p2p', root: 'om_u1' },
  ],
  unusual: [
    { tenant: 'T-1_2.3', chat: 'oc_' + 'a'.repeat(200), root: 'om_x' },
    { tenant: 'tenant', chat: 'oc/1+2=3%20', root: 'om_dc13264520392913993dd051dba21dcf' },
    { tenant: '租户', chat: 'oc_é #x@y|z', root: 'omt_d4be107c616' },
  ],
  inbound: [{ platform: mapped?.platform ?? '(not mapped)', thread: mapped?.thread ?? '', in: { tenant: body.header.tenant_key!, chat: body.event.message.chat_id, root: body.event.message.root_id } }],
});
