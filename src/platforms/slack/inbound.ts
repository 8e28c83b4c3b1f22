import type { ActionName, FileRef, Inbound } from '../../core/ports/chat.js';
import { threadKey } from './thread-key.js';
import { ACTIONS } from './blocks.js';

/** Slack's markup in a person's message → plain text for the model: links, entities, the bot's own mention. */
export function plainText(text: string, botUserId: string | undefined): string {
  return text
    .replace(botUserId ? new RegExp(`<@${botUserId}(\\|[^>]*)?>`, 'g') : /$^/, ' ')
    .replace(/<((?:https?|mailto):[^|>]+)\|([^>]+)>/g, '$2 ($1)')
    .replace(/<((?:https?|mailto):[^>]+)>/g, '$1')
    .replace(/<@(\w+)(?:\|([^>]+))?>/g, (_m, id: string, name?: string) => `@${name ?? id}`)
    .replace(/<#\w+\|([^>]*)>/g, '#$1')
    .replace(/<!(\w+)[^>]*>/g, '@$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}

export interface SlackMessageEvent {
  type: string;
  subtype?: string;
  bot_id?: string;
  user?: string;
  text?: string;
  ts: string;
  thread_ts?: string;
  channel: string;
  channel_type?: string;
  team?: string;
  files?: { id: string; name?: string; size?: number; mimetype?: string; url_private_download?: string; url_private?: string }[];
}

/**
 * Files attached to a request, as the bot can download them later, with the media type Slack declares (the core sends
 * images to a backend that reads them, and checks the downloaded bytes). Whether they are used is the core's decision.
 */
function filesOf(e: SlackMessageEvent): FileRef[] | undefined {
  const files = (e.files ?? [])
    .map((f) => ({ id: f.id, name: f.name ?? f.id, size: f.size ?? 0, url: f.url_private_download ?? f.url_private, ...(f.mimetype ? { mime: f.mimetype } : {}) }))
    .filter((f) => f.url);
  return files.length ? files : undefined;
}

/**
 * Subtypes that are still a person writing something new: a message with files, a thread reply also sent to the
 * channel ("Also send to channel"), and `/me` text. Edits, deletions, joins, bot and system messages are not.
 */
const PERSON_SUBTYPES = new Set(['file_share', 'thread_broadcast', 'me_message']);

/** What every message from a person carries; undefined for bots, edits, joins and the bot itself. */
function fromPerson(e: SlackMessageEvent, team: string, botUserId: string | undefined) {
  if ((e.subtype && !PERSON_SUBTYPES.has(e.subtype)) || e.bot_id || !e.user || e.user === botUserId) return undefined;
  return {
    platform: 'slack',
    thread: threadKey({ team, channel: e.channel, threadTs: e.thread_ts ?? e.ts }),
    // The message's identity: the same reply arriving as app_mention and as message counts once.
    eventId: `${e.channel}:${e.ts}`,
    user: e.user,
    channel: e.channel,
    text: plainText(e.text ?? '', botUserId),
  };
}

/** `app_mention` → a new request (or a reply, when inside a thread the bot runs: the engine decides). */
export function fromMention(e: SlackMessageEvent, team: string, botUserId: string | undefined): Inbound | undefined {
  const base = fromPerson(e, team, botUserId);
  return base && { ...base, kind: 'mention', files: filesOf(e) };
}

/** `message.*` → a reply in a thread, or a new request in a direct message. Edits, joins and bots are ignored. */
export function fromMessage(e: SlackMessageEvent, team: string, botUserId: string | undefined): Inbound | undefined {
  const base = fromPerson(e, team, botUserId);
  if (!base) return undefined;
  const dm = e.channel_type === 'im';
  // In channels a message that mentions the bot also arrives as app_mention, which handles it.
  if (!dm && botUserId && e.text?.includes(`<@${botUserId}`)) return undefined;
  const inThread = e.thread_ts !== undefined && e.thread_ts !== e.ts;
  if (!inThread && !dm) return undefined;
  return inThread ? { ...base, kind: 'reply' } : { ...base, kind: 'mention', files: filesOf(e) };
}

const ACTION_NAMES: Record<string, ActionName> = {
  [ACTIONS.startNow]: 'start-now',
  [ACTIONS.cancel]: 'cancel',
  [ACTIONS.retry]: 'retry',
  [ACTIONS.further]: 'further',
};

/** A button press → an action on the thread named in the button's value. */
export function fromAction(actionId: string, value: string | undefined, actionTs: string, user: string, channel: string): Inbound | undefined {
  const action = ACTION_NAMES[actionId];
  if (!action || !value?.startsWith('slack:')) return undefined;
  return { platform: 'slack', kind: 'action', action, thread: value, eventId: `action:${value}:${actionId}:${actionTs}`, user, channel };
}

/** A click on a finished report's feedback buttons, whose value names the thread (`good|slack:T…:C…:ts`). */
export function fromFeedback(value: string | undefined, actionTs: string, user: string, channel: string): Inbound | undefined {
  const m = /^(good|bad)\|(slack:.+)$/.exec(value ?? '');
  if (!m) return undefined;
  const thread = m[2]!;
  return { platform: 'slack', kind: 'feedback', value: m[1] as 'good' | 'bad', thread, eventId: `feedback:${thread}:${user}:${actionTs}`, user, channel };
}
