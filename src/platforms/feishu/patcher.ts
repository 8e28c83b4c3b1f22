import type { Logger } from '../../core/ports/logger.js';
import { Drain } from '../drain.js';
import { toFeishuError, type FeishuApi } from './api.js';
import type { Card } from './cards.js';

/** Feishu allows 5 patches per second per message; one every 1.5 s leaves room for a person's clicks. */
export const PATCH_INTERVAL_MS = 1500;
const FINAL_ATTEMPTS = 5;
/** The message is gone, too old (14 days) or not a card: no later patch can succeed. */
const PERMANENT = new Set([230011, 230031, 230001, 230002, 230099, 230025]);

interface Slot {
  card?: Card;
  final: boolean;
  lastSentAt: number;
  timer?: NodeJS.Timeout;
  /** Forgets an idle slot once its interval has passed. */
  expiry?: NodeJS.Timeout;
  sending: boolean;
  attempts: number;
}

/**
 * Patches cards no more often than once per PATCH_INTERVAL_MS each. The latest card of a message replaces any
 * waiting one; a final card is retried until it is delivered; a failed patch is logged and never thrown. With a
 * shared budget (the api's), a patch also takes the message's cluster-wide token, `feishu:<app>:patch:<message id>`
 * (the same interval), so that processes taking turns on a thread never patch its card faster between them.
 */
export class CardPatcher {
  private readonly slots = new Map<string, Slot>();
  private readonly drain = new Drain();

  constructor(
    private readonly api: FeishuApi,
    private readonly log: Logger,
    private readonly intervalMs = PATCH_INTERVAL_MS,
  ) {}

  patch(messageId: string, card: Card, final: boolean): void {
    const slot = this.slots.get(messageId) ?? { final: false, lastSentAt: 0, sending: false, attempts: 0 };
    clearTimeout(slot.expiry);
    slot.card = card;
    slot.final ||= final;
    this.slots.set(messageId, slot);
    this.schedule(messageId, slot);
  }

  /** Resolves when nothing is waiting, or after `timeoutMs`. */
  drained(timeoutMs = 5000): Promise<void> {
    return this.drain.wait(!this.busy(), timeoutMs);
  }

  stop(): void {
    for (const slot of this.slots.values()) {
      clearTimeout(slot.timer);
      clearTimeout(slot.expiry);
    }
    this.slots.clear();
  }

  private busy(): boolean {
    for (const slot of this.slots.values()) if (slot.card || slot.sending || slot.timer) return true;
    return false;
  }

  private schedule(messageId: string, slot: Slot): void {
    if (slot.timer || slot.sending) return;
    const wait = Math.max(0, slot.lastSentAt + this.intervalMs - Date.now());
    slot.timer = setTimeout(() => void this.send(messageId, slot), wait);
  }

  private async send(messageId: string, slot: Slot): Promise<void> {
    slot.timer = undefined;
    const shared = this.api.shared;
    if (slot.card && shared?.shared) {
      slot.sending = true;
      const wait = await shared.wait(`feishu:${this.api.appId}:patch:${messageId}`, 60_000 / this.intervalMs, 1);
      slot.sending = false;
      // Stopped meanwhile (the slot is forgotten): nothing more is sent.
      if (this.slots.get(messageId) !== slot) return;
      if (wait > 0) {
        slot.timer = setTimeout(() => void this.send(messageId, slot), wait);
        return;
      }
    }
    const card = slot.card;
    if (!card) return this.release(messageId, slot);
    slot.card = undefined;
    slot.sending = true;
    const final = slot.final;
    try {
      await this.api.patch(messageId, card);
      slot.attempts = 0;
    } catch (err) {
      const e = toFeishuError(err);
      this.log.warn({ code: e.code, final }, 'card patch failed');
      if (final && !PERMANENT.has(e.code) && ++slot.attempts < FINAL_ATTEMPTS) slot.card ??= card;
    } finally {
      slot.sending = false;
      slot.lastSentAt = Date.now();
    }
    if (slot.card) this.schedule(messageId, slot);
    else this.release(messageId, slot);
  }

  private release(messageId: string, slot: Slot): void {
    const forget = () => {
      if (this.slots.get(messageId) === slot && !slot.card && !slot.sending && !slot.timer) this.slots.delete(messageId);
    };
    // Keep the time of the last patch for one interval, so that the next patch still waits its turn.
    if (slot.final) forget();
    else slot.expiry = setTimeout(forget, this.intervalMs).unref();
    if (!this.busy()) this.drain.settled();
  }
}
