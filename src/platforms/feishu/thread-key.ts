import { createHash } from 'node:crypto';

/** The thread-key codec: the opaque key the core stores, and the chat and root message replies go to. */
export interface FeishuThread {
  tenant: string;
  chat: string;
  /** The thread's root message: the bot replies to it with reply_in_thread. */
  root: string;
}

export function threadKey(t: FeishuThread): string {
  return `feishu:${t.tenant}:${t.chat}:${t.root}`;
}

export function parseThreadKey(key: string): FeishuThread {
  const [, tenant = '', chat = '', root = ''] = key.split(':');
  return { tenant, chat, root };
}

/**
 * The reply's idempotency key for a tagged post (`piece`: one of several messages): Feishu sends at most one message
 * per uuid within an hour, so a post repeated after a restart (its first answer lost with the process) does not
 * appear twice. At most 50 characters, as Feishu allows.
 */
export function uuidFor(thread: string, tag: string | undefined, piece = 0): string | undefined {
  return tag ? createHash('sha256').update(`${thread}\n${tag}\n${piece}`).digest('hex').slice(0, 40) : undefined;
}
