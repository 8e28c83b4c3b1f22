import type { Logger } from '../../core/ports/logger.js';
import { toFeishuError, type FeishuApi } from './api.js';
import type { CardKitClient, LiveCardOptions, LiveCardSource } from './cardkit-ops.js';
import { LiveCard } from './live-card.js';

/** A progress reply: the card just created, or the message sent before with the same uuid (and the card it holds). */
export type OpenedProgress = { card: LiveCard; earlier?: undefined } | { earlier: string; cardId: string };

/**
 * The thread's progress card through CardKit: a card entity created and replied with. Untagged, the reply's key is
 * the card's own (as LiveCard.open). Tagged, it is the tag's (`uuid`): Feishu sends at most one message per uuid
 * within an hour and answers a repeat with the earlier message, so a post repeated after a restart (its first
 * answer lost with the process) does not appear twice. The card that message holds (CardKit id_convert) tells which
 * it is: the card just created, or one sent before, which the caller takes over. The fresh card entity is then
 * never sent and simply left unused: nobody sees it, nothing writes to it, and Feishu drops it after 14 days.
 * Rejects as LiveCard.open does.
 */
export async function openProgress(client: CardKitClient & Pick<FeishuApi, 'cardIdOf'>, root: string, source: LiveCardSource, opts: LiveCardOptions, log: Logger, uuid?: string): Promise<OpenedProgress> {
  const card = await LiveCard.open(client, root, source, opts, log, uuid);
  const fresh = card.position.cardId!;
  if (!uuid) return { card };
  let held: string;
  try {
    held = await client.cardIdOf(card.currentMessageId);
  } catch (err) {
    // Unknown (after the API's own retries), so the card just created: the message holds it unless a crash came
    // between an earlier reply and its record. It keeps streaming, and nothing more is posted; in that rare case
    // the earlier card keeps what it showed (as it did before tagged replies). Either way one progress card.
    log.warn({ code: toFeishuError(err).code }, 'could not tell which card the progress message holds; taking it as the one just created');
    return { card };
  }
  return held === fresh ? { card } : { earlier: card.currentMessageId, cardId: held };
}
