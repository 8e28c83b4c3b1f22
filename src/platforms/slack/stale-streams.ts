import type { WebClient } from '@slack/web-api';
import type { ThreadKey } from '../../core/ports/chat.js';
import type { Logger } from '../../core/ports/logger.js';
import { slackFailure } from './errors.js';
import { POST_EVENT } from './report-delivery.js';
import { parseThreadKey } from './thread-key.js';

/** A message as conversations.replies returns it, with what streams may carry (`streaming_state`: undocumented there). */
interface StreamedReply {
  ts?: string;
  bot_id?: string;
  metadata?: { event_type?: string };
  streaming_state?: string;
}

/** The most messages one restart ends per thread (each end is a Tier 2 call). */
const MAX_STALE = 10;
/** Pages of replies read (200 each, oldest first): the newest are the likeliest to stream. */
const MAX_PAGES = 5;

/**
 * The bot's messages in the thread that may be streams a process before this one left open: untagged (a stream has no
 * metadata until it is stopped; the bot's tagged posts are not streams) and not saying they stopped streaming, after
 * `after` when given, the newest `MAX_STALE`. Ending one that is not streaming is only refused, so a notice among them costs one call. Empty when
 * the thread cannot be read (the history scopes, as for finding a tagged post).
 */
export async function untaggedBotMessages(web: WebClient, log: Logger, thread: ThreadKey, after?: string): Promise<string[]> {
  const { channel, threadTs } = parseThreadKey(thread);
  try {
    const messages: StreamedReply[] = [];
    for (let page = 0, cursor: string | undefined; page < MAX_PAGES; page++) {
      const res = await web.conversations.replies({ channel, ts: threadTs, include_all_metadata: true, limit: 200, cursor, ...(after ? { oldest: after, inclusive: false } : {}) });
      messages.push(...((res.messages as StreamedReply[] | undefined) ?? []));
      cursor = res.response_metadata?.next_cursor || undefined;
      if (!cursor) break;
    }
    return messages
      .filter((m) => m.bot_id && m.ts && m.ts !== threadTs && m.ts !== after && m.metadata?.event_type !== POST_EVENT)
      // A message that says it no longer streams is left alone; one that says nothing may still be a stream.
      .filter((m) => m.streaming_state === undefined || m.streaming_state === 'in_progress')
      .map((m) => m.ts!)
      .slice(-MAX_STALE);
  } catch (err) {
    log.info({ thread, error: slackFailure(err).code }, 'could not look for streams left open before a restart');
    return [];
  }
}
