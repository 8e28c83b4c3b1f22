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
