import type { Logger } from '../../core/ports/logger.js';
import { Drain } from '../drain.js';
import { toFeishuError, type FeishuError } from './api.js';
import type { Card } from './cards.js';
import { CardKitRefused, SEQUENCE_CONFLICT, STREAM_CLOSED, nextOp, snapshot, timeSequence, type CardKitClient, type LiveCardOptions, type LiveCardSource, type Snapshot } from './cardkit-ops.js';

/** Consecutive failed operations after which a fresh card is tried once; attempts at the final state; longest wait. */
const [FAILURES_BEFORE_REPLACING, FINAL_ATTEMPTS, MAX_BACKOFF_MS] = [3, 5, 10_000];

/**
 * One card in the thread kept up to date through CardKit: a card entity with streaming on, changed one operation
 * at a time with strictly increasing `sequence`, at most one operation per `opIntervalMs`, the latest state
 * winning. When Feishu closes the card's streaming (or a minute before it would), a fresh card carrying the whole
 * state is posted below it and the old one turns into a pointer to it. Once `settle()`d (the report is being
 * delivered below it) no card is posted any more: a closed card is then updated whole. `finish()` delivers the
 * final state and turns streaming off. Never throws.
 */
export class LiveCard {
  /** Every message the card has been, the first (the one the core knows) first. */
  readonly messageIds: string[] = [];
  private seq = 0;
  private streaming: boolean;
  private openedAt = Date.now();
  private sent: Snapshot | undefined;
  private pending = false;
  private finalStep: 'none' | 'update' | 'settings' | 'done' = 'none';
  private settled = false;
  private busy = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private lastStart = Number.NEGATIVE_INFINITY;
  private failures = 0;
  private replacedForErrors = false;
  private retiring = 0;
  private readonly drain = new Drain();
  /** Cards replaced so far, for logs and tests. */
  replacements = 0;

  private constructor(
    private readonly client: CardKitClient,
    private readonly root: string,
    private readonly source: LiveCardSource,
    private readonly opts: LiveCardOptions,
    private readonly log: Logger,
    private cardId: string | undefined,
    streaming: boolean,
    private readonly resolveCardId?: () => Promise<string>,
    private readonly onLost?: () => void,
  ) {
    this.streaming = streaming;
  }

  /** Creates the card entity (streaming on) and replies with it (`uuid`: the reply's key). Rejects when CardKit refuses. */
  static async open(client: CardKitClient, root: string, source: LiveCardSource, opts: LiveCardOptions, log: Logger, uuid?: string): Promise<LiveCard> {
    const card = source.render(true);
    let cardId: string;
    try {
      cardId = await client.createCard(card);
    } catch (err) {
      throw new CardKitRefused(err);
    }
    const messageId = await client.replyCard(root, cardId, uuid ?? `card_${cardId}`);
    const live = new LiveCard(client, root, source, opts, log, cardId, true);
    live.sent = snapshot(card);
    live.messageIds.push(messageId);
    return live;
  }

  /**
   * A card this process did not create (posted before a restart): its card id is looked up at the first
   * operation, its sequences start above any used before, and it is updated whole. `onLost`: it cannot be found.
   */
  static adopt(client: CardKitClient, root: string, messageId: string, source: LiveCardSource, opts: LiveCardOptions, log: Logger, found: { cardId?: string; resolve?: () => Promise<string>; sequence?: number }, onLost: () => void): LiveCard {
    const live = new LiveCard(client, root, source, opts, log, found.cardId, false, found.resolve, onLost);
    live.seq = found.sequence ?? timeSequence();
    live.settled = true;
    live.messageIds.push(messageId);
    return live;
  }

  get currentMessageId(): string {
    return this.messageIds.at(-1)!;
  }

  /** Where the card is now, for taking it over later (a Retry in the same process). */
  get position(): { cardId?: string; sequence: number } {
    return { cardId: this.cardId, sequence: this.seq };
  }

  /** The source changed: bring the card up to date (coalesced). */
  changed(): void {
    // After the final state, a new run (Retry) updates the card again; a final state under way sends the latest.
    if (this.finalStep === 'done') this.finalStep = 'none';
    this.pending = true;
    this.tick();
  }

  /** Deliver the final state (latest render, streaming off). */
  finish(): void {
    if (this.finalStep === 'none' || this.finalStep === 'done') this.finalStep = 'update';
    this.pending = true;
    this.tick();
  }

  /** No more fresh cards: the report is being delivered below this one. */
  settle(): void {
    this.settled = true;
  }

  get finished(): boolean {
    return this.finalStep === 'done';
  }

  /** True once the card shows the source's current state (or its final one); false when that failed or `timeoutMs` passed. */
  async sync(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    this.pending = true;
    this.tick();
    while (!this.stopped && this.busyOrPending() && Date.now() < deadline) await this.drain.wait(false, Math.max(1, deadline - Date.now()));
    return !this.stopped && !this.busyOrPending() && this.failures === 0;
  }

  /** Resolves once the final state is delivered (or given up), or the card is stopped. */
  async whenFinished(): Promise<void> {
    while (!this.stopped && this.finalStep !== 'done') await this.drain.wait(false, 60_000);
  }

  /** Resolves when nothing is waiting to be sent, or after `timeoutMs`. */
  drained(timeoutMs: number): Promise<void> {
    return this.drain.wait(!this.busyOrPending(), timeoutMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.drain.settled();
  }

  private busyOrPending(): boolean {
    return this.busy || this.retiring > 0 || this.pending || this.finalStep === 'update' || this.finalStep === 'settings';
  }

  private tick(): void {
    if (this.busy || this.stopped || this.timer) return;
    if (!this.busyOrPending()) return this.drain.settled();
    const backoff = this.failures > 0 ? Math.min(MAX_BACKOFF_MS, this.opts.opIntervalMs * 2 ** this.failures) : this.opts.opIntervalMs;
    const wait = this.lastStart + backoff - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.tick();
      }, wait);
      return;
    }
    this.busy = true;
    this.lastStart = Date.now();
    void this.step()
      .then((sent) => {
        this.failures = 0;
        if (!sent) this.pending = false;
      })
      .catch((err: unknown) => this.failed(err))
      .finally(() => {
        this.busy = false;
        this.tick();
      });
  }

  /** One operation; false when there was nothing to send. */
  private async step(): Promise<boolean> {
    if (!this.cardId) {
      if (!this.resolveCardId) throw new Error('live card without a card id');
      this.cardId = await this.resolveCardId();
      return true;
    }
    if (this.finalStep === 'update') {
      const card = this.source.render(false);
      await this.client.updateCard(this.cardId, card, this.nextSeq());
      this.sent = snapshot(card);
      this.finalStep = 'settings';
      return true;
    }
    if (this.finalStep === 'settings') {
      await this.client.cardSettings(this.cardId, { streaming_mode: false, summary: { content: this.source.summary() } }, this.nextSeq());
      this.streaming = false;
      this.finalStep = 'done';
      this.pending = false;
      return false;
    }
    if (this.streaming && !this.settled && Date.now() - this.openedAt >= this.opts.streamLifetimeMs) {
      await this.replace('stream lifetime');
      return true;
    }
    const want = this.source.render(this.streaming);
    const op = nextOp(this.sent, want, this.streaming, this.source.priority);
    if (!op) return false;
    const id = this.cardId;
    if (op.kind === 'card') await this.client.updateCard(id, op.card, this.nextSeq());
    else if (op.kind === 'text') await this.client.streamElement(id, op.id, op.content, this.nextSeq());
    else await this.client.updateElement(id, op.id, op.element, this.nextSeq());
    if (op.kind === 'card') this.sent = snapshot(op.card);
    else {
      const elements = new Map(this.sent!.elements);
      elements.set(op.id, op.kind === 'text' ? { ...elements.get(op.id), content: op.content } : op.element);
      const els = this.sent!.ids.map((i) => elements.get(i)!);
      const frame = JSON.parse(this.sent!.frame) as Card;
      this.sent = snapshot({ ...frame, body: { elements: els } });
    }
    return true;
  }

  private nextSeq(): number {
    this.seq += 1;
    return this.seq;
  }

  private async failed(err: unknown): Promise<void> {
    const e = toFeishuError(err);
    if (STREAM_CLOSED.has(e.code)) {
      // Feishu closed the card's streaming: the card itself still takes whole updates.
      this.streaming = false;
      if (!this.settled && this.finalStep === 'none') {
        this.log.info({ code: e.code, replacements: this.replacements }, 'card streaming closed; posting a fresh card');
        await this.replace('streaming closed').catch((err2: unknown) => this.countFailure(toFeishuError(err2)));
      } else if (this.finalStep === 'settings') this.finalStep = 'done'; // Feishu already turned streaming off
      else this.countFailure(e);
      return;
    }
    if (e.code === SEQUENCE_CONFLICT) this.seq += 1000;
    this.countFailure(e);
    if (this.finalStep === 'none' && !this.settled && this.failures >= FAILURES_BEFORE_REPLACING && !this.replacedForErrors) {
      this.replacedForErrors = true;
      await this.replace('failing operations').catch((err2: unknown) => this.log.warn({ code: toFeishuError(err2).code }, 'could not post a fresh card'));
    }
  }

  private countFailure(e: FeishuError): void {
    this.failures++;
    this.opts.onFailure?.(e);
    this.log.warn({ code: e.code, failures: this.failures, final: this.finalStep !== 'none' }, 'card operation failed');
    if (!this.cardId && this.resolveCardId && this.failures >= 2) {
      // A card posted before a restart that cannot be found as a card entity: the owner takes over.
      this.stop();
      this.onLost?.();
      return;
    }
    if ((this.finalStep === 'update' || this.finalStep === 'settings') && this.failures >= FINAL_ATTEMPTS) {
      this.log.warn({ code: e.code }, 'giving up on the final card state');
      this.finalStep = 'done';
      this.pending = false;
    }
  }

  /** A fresh card carrying the whole state, posted below; the old one becomes a pointer to it. */
  private async replace(reason: string): Promise<void> {
    const card = this.source.render(true);
    const cardId = await this.client.createCard(card);
    const messageId = await this.client.replyCard(this.root, cardId, `card_${cardId}`);
    const old = { cardId: this.cardId!, seq: this.seq, streaming: this.streaming };
    this.cardId = cardId;
    this.seq = 0;
    this.sent = snapshot(card);
    this.streaming = true;
    this.openedAt = Date.now();
    this.messageIds.push(messageId);
    this.replacements++;
    this.failures = 0;
    this.log.info({ reason, replacements: this.replacements }, 'live card replaced');
    void this.retire(old);
  }

  /** The replaced card: a pointer to the fresh one, streaming off. Paced like any operation on a card. */
  private async retire(old: { cardId: string; seq: number; streaming: boolean }): Promise<void> {
    this.retiring++;
    let seq = old.seq;
    const pause = () => new Promise((r) => setTimeout(r, this.opts.opIntervalMs));
    try {
      for (let attempt = 0; attempt < 3 && !this.stopped; attempt++) {
        try {
          await pause();
          await this.client.updateCard(old.cardId, this.source.retired(), ++seq);
          if (old.streaming) {
            await pause();
            await this.client.cardSettings(old.cardId, { streaming_mode: false, summary: { content: this.source.summary() } }, ++seq);
          }
          return;
        } catch (err) {
          const e = toFeishuError(err);
          if (e.code === SEQUENCE_CONFLICT) seq += 1000;
          this.log.warn({ code: e.code }, 'could not retire a replaced card');
        }
      }
    } finally {
      this.retiring--;
      if (!this.busyOrPending()) this.drain.settled();
    }
  }
}
