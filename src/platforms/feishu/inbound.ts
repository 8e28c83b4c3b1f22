import type { ActionName, Feedback, Inbound } from '../../core/ports/chat.js';
import { messageFiles, nameImages } from './attachments.js';
import { parseThreadKey, threadKey } from './thread-key.js';

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
    parent_id?: string;
    thread_id?: string;
    chat_id: string;
    chat_type?: string;
    message_type?: string;
    content?: string;
    mentions?: Mention[];
    /** When the message was sent: milliseconds since the epoch, as a string. */
    create_time?: string;
  };
}

/** `card.action.trigger` (callback schema 2.0) as the dispatcher hands it over. */
export interface CardActionEvent {
  event_id?: string;
  token?: string;
  operator?: { open_id?: string };
  action?: { tag?: string; value?: unknown; form_value?: Record<string, unknown>; name?: string };
  context?: { open_message_id?: string; open_chat_id?: string };
}

/** Message types whose words the bot reads. */
const READABLE = new Set(['text', 'post']);
/** Feishu's own notices in a chat (someone joined, the group was renamed): nobody wrote them to the bot. */
const NOT_WRITTEN = new Set(['system']);

/**
 * A message → a request or a reply. In a group, a message that @mentions the bot (by open_id, not by name)
 * is a request, or an answer when it is in a thread the bot runs; a message in a thread without a mention only
 * arrives when the app has the group-message permission, and counts as a reply. In a direct chat every
 * message counts. Messages from apps, including this bot, are ignored.
 *
 * A message the bot cannot read (image, file, audio, media, sticker, shared chat, forward, card, …) is
 * `unsupported` in a direct chat, so the person is told what the bot reads. In a group only when it
 * @mentions the bot, which none of these types can carry (their content has no text), so a group's pictures
 * and files stay unanswered as everything else there that is not addressed to the bot. They reach the research
 * another way: a request made in their thread (or replying to them) takes them along (resources.ts), and the
 * pictures of a post that mentions the bot go with it.
 */
export function fromMessage(e: MessageEvent, botOpenId: string): Inbound | undefined {
  const m = e.message;
  const user = e.sender?.sender_id?.open_id;
  if (!m || !user || e.sender?.sender_type !== 'user' || user === botOpenId) return undefined;
  const type = m.message_type ?? '';
  const mentioned = (m.mentions ?? []).some((x) => x.id?.open_id === botOpenId);
  const direct = m.chat_type === 'p2p';
  const inThread = Boolean(m.root_id && m.root_id !== m.message_id);
  const base = {
    platform: 'feishu',
    thread: threadKey({ tenant: e.tenant_key ?? 't', chat: m.chat_id, root: inThread ? m.root_id! : m.message_id }),
    // The message's identity: a redelivery (with or without a new event_id) counts once.
    eventId: m.message_id,
    user,
    channel: m.chat_id,
  };
  if (!READABLE.has(type)) {
    if (!type || NOT_WRITTEN.has(type) || !(direct || mentioned)) return undefined;
    return { ...base, kind: 'unsupported', what: /^[a-z_]{1,40}$/.test(type) ? type : 'unknown' };
  }
  const text = messageText(type, m.content ?? '', m.mentions ?? [], botOpenId);
  if (text === undefined) return undefined;
  if (!mentioned && !direct && !inThread) return undefined;
  if (!(mentioned || (direct && !inThread))) return { ...base, kind: 'reply', text };
  // A post's pictures go with the request (a thread's root, fetched later, may add more: see resources.ts).
  const files = type === 'post' ? nameImages(messageFiles(m.message_id, type, m.content ?? '')) : [];
  return { ...base, kind: 'mention', text, ...(files.length ? { files } : {}) };
}

/**
 * The messages whose attachments go with a mention in a thread or a reply: the thread's root and the message
 * replied to (when they are not the mention itself), each at most once.
 */
export function linkedMessages(e: MessageEvent): string[] {
  const m = e.message;
  if (!m) return [];
  return [...new Set([m.root_id, m.parent_id].filter((id): id is string => !!id && id !== m.message_id))];
}

/**
 * Messages older than this are not taken. Feishu redelivers an unacknowledged event for about 7 hours and the
 * bot remembers event and message ids for 24 h, so no redelivery or replay can outlive that memory.
 */
export const MAX_MESSAGE_AGE_MS = 12 * 60 * 60 * 1000;

/** How long ago the event's message was sent; undefined when it carries no usable `create_time`. */
export function messageAgeMs(e: MessageEvent, now = Date.now()): number | undefined {
  const raw = e.message?.create_time;
  if (typeof raw !== 'string' || !/^\d{1,16}$/.test(raw)) return undefined;
  return now - Number(raw);
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

/** What a feedback button on a finished run's card carries: the thread (ours, so reliable) and the person's verdict. */
export interface FeedbackValue {
  a: typeof FEEDBACK;
  v: Feedback;
  t: string;
}

export const FEEDBACK = 'feedback';

/** The clarify card's form: its text input and its submit button (which has no callback value). */
export const FORM = { input: 'answer', submit: 'submit' } as const;

const ACTION_NAMES: readonly ActionName[] = ['answer', 'start-now', 'cancel', 'retry', 'further'];

/**
 * A button press or form submission on one of the bot's cards → an action on the card's message
 * (`context.open_message_id`), by which the engine finds the thread; the thread in the button's value is only a
 * hint ('' when there is none). A form submit arrives as a `button` callback named like the form's submit button,
 * with the form's fields in `form_value` and (as form buttons have no behaviors) an empty `value`: it is the answer.
 */
export function fromCardAction(e: CardActionEvent): Inbound | undefined {
  const user = e.operator?.open_id;
  const messageId = e.context?.open_message_id || undefined;
  const raw = e.action?.value;
  const value = (raw && typeof raw === 'object' && !Array.isArray(raw) ? raw : {}) as Partial<Record<keyof ButtonValue, unknown>>;
  const hint = typeof value.t === 'string' && value.t.startsWith('feishu:') ? value.t : '';
  if (!user || (!messageId && !hint)) return undefined;
  if (value.a === FEEDBACK) return fromFeedback(e, user, value as Partial<Record<keyof FeedbackValue, unknown>>, hint);
  const form = e.action?.form_value && typeof e.action.form_value === 'object' ? e.action.form_value : undefined;
  const submitted = form !== undefined && (e.action?.name === FORM.submit || FORM.input in form);
  const action = ACTION_NAMES.find((a) => a === value.a) ?? (submitted ? 'answer' : undefined);
  if (!action) return undefined;
  const answer = form?.[FORM.input];
  const text = typeof answer === 'string' ? answer.trim() : undefined;
  if (action === 'answer' && !text) return undefined;
  return {
    platform: 'feishu',
    kind: 'action',
    action,
    text,
    thread: hint,
    ...(messageId ? { messageId } : {}),
    eventId: `action:${e.event_id ?? e.token ?? `${messageId ?? hint}:${action}:${Date.now()}`}`,
    user,
    channel: e.context?.open_chat_id ?? parseThreadKey(hint).chat,
  };
}

/**
 * A click on a feedback button: a feedback on the thread named in the button's value (the engine ignores a thread it
 * does not run). Every click is an event of its own, so a person who changes their mind is heard.
 */
function fromFeedback(e: CardActionEvent, user: string, value: Partial<Record<keyof FeedbackValue, unknown>>, thread: string): Inbound | undefined {
  if (!thread || (value.v !== 'good' && value.v !== 'bad')) return undefined;
  const click = e.event_id ?? e.token ?? `${e.context?.open_message_id ?? thread}:${user}:${Date.now()}`;
  return {
    platform: 'feishu',
    kind: 'feedback',
    value: value.v,
    thread,
    eventId: `feedback:${click}`,
    user,
    channel: e.context?.open_chat_id ?? parseThreadKey(thread).chat,
  };
}
