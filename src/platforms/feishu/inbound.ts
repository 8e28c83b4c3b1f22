import type { ActionName, Inbound } from '../platform.js';

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

interface Mention {
  key: string;
  id?: { open_id?: string };
  name?: string;
}

/** `im.message.receive_v1` as the SDK's dispatcher hands it over (header and event flattened). */
export interface MessageEvent {
  event_id?: string;
  tenant_key?: string;
  sender?: { sender_id?: { open_id?: string }; sender_type?: string };
  message?: {
    message_id: string;
    root_id?: string;
    thread_id?: string;
    chat_id: string;
    chat_type?: string;
    message_type?: string;
    content?: string;
    mentions?: Mention[];
  };
}

/** `card.action.trigger` (callback schema 2.0) as the dispatcher hands it over. */
export interface CardActionEvent {
  event_id?: string;
  token?: string;
  operator?: { open_id?: string };
  action?: { value?: unknown; form_value?: Record<string, unknown>; name?: string };
  context?: { open_message_id?: string; open_chat_id?: string };
}

/**
 * A message → a request or a reply. In a group, a message that @mentions the bot (by open_id, not by name)
 * is a request, or an answer when it is in a thread the bot runs; a message in a thread without a mention only
 * arrives when the app has the group-message permission, and counts as a reply. In a direct chat every
 * message counts. Messages from apps, including this bot, are ignored.
 */
export function fromMessage(e: MessageEvent, botOpenId: string): Inbound | undefined {
  const m = e.message;
  const user = e.sender?.sender_id?.open_id;
  if (!m || !user || e.sender?.sender_type !== 'user' || user === botOpenId) return undefined;
  const text = messageText(m.message_type ?? '', m.content ?? '', m.mentions ?? [], botOpenId);
  if (text === undefined) return undefined;
  const mentioned = (m.mentions ?? []).some((x) => x.id?.open_id === botOpenId);
  const direct = m.chat_type === 'p2p';
  const inThread = Boolean(m.root_id && m.root_id !== m.message_id);
  if (!mentioned && !direct && !inThread) return undefined;
  return {
    platform: 'feishu',
    kind: mentioned || (direct && !inThread) ? 'mention' : 'reply',
    thread: threadKey({ tenant: e.tenant_key ?? 't', chat: m.chat_id, root: inThread ? m.root_id! : m.message_id }),
    // The message's identity: a redelivery (with or without a new event_id) counts once.
    eventId: m.message_id,
    user,
    channel: m.chat_id,
    text,
  };
}

/** The words of a text or post message, with mention placeholders resolved; undefined for other kinds. */
export function messageText(type: string, content: string, mentions: Mention[], botOpenId: string): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(content);
  } catch {
    return undefined;
  }
  let raw: string;
  if (type === 'text') raw = String((body as { text?: unknown }).text ?? '');
  else if (type === 'post') raw = postText(body);
  else return undefined;
  for (const m of mentions) raw = raw.split(m.key).join(m.id?.open_id === botOpenId ? ' ' : `@${m.name ?? ''}`);
  return raw.replace(/\s+/g, ' ').trim();
}

type PostNode = { tag?: string; text?: string; href?: string; user_id?: string; user_name?: string };

function postText(body: unknown): string {
  // Received posts are `{title, content}`; sent ones may be wrapped in a locale (`{zh_cn: {…}}`).
  type Post = { title?: string; content?: PostNode[][] };
  const b = body as Post;
  const post: Post | undefined = Array.isArray(b.content)
    ? b
    : (Object.values(body as Record<string, unknown>).find((v) => v && typeof v === 'object' && 'content' in v) as Post | undefined);
  if (!post?.content) return '';
  const lines = post.content.map((line) =>
    line
      .map((n) => {
        if (n.tag === 'a') return n.href && n.href !== n.text ? `${n.text ?? ''} (${n.href})` : (n.text ?? n.href ?? '');
        // Received posts carry the mention placeholder (`@_user_1`) in user_id; it is resolved with the rest.
        if (n.tag === 'at') return n.user_id?.startsWith('@_') ? n.user_id : `@${n.user_name ?? ''}`;
        return n.text ?? '';
      })
      .join(''),
  );
  return [post.title, ...lines].filter(Boolean).join('\n');
}

/** What a card button carries in its callback value. */
export interface ButtonValue {
  a: ActionName;
  t: string;
}

/** A button press or form submission on one of the bot's cards → an action on the thread named in its value. */
export function fromCardAction(e: CardActionEvent): Inbound | undefined {
  const value = e.action?.value as Partial<ButtonValue> | undefined;
  const user = e.operator?.open_id;
  if (!value?.t?.startsWith('feishu:') || !value.a || !user) return undefined;
  const answer = e.action?.form_value?.answer;
  const text = typeof answer === 'string' ? answer.trim() : undefined;
  if (value.a === 'answer' && !text) return undefined;
  return {
    platform: 'feishu',
    kind: 'action',
    action: value.a,
    text,
    thread: value.t,
    eventId: `action:${e.event_id ?? e.token ?? `${value.t}:${value.a}:${Date.now()}`}`,
    user,
    channel: e.context?.open_chat_id ?? parseThreadKey(value.t).chat,
  };
}
