import type { FeishuApi, FeishuError } from './api.js';
import type { Card } from './cards.js';

/** CardKit's rules and the pure part of keeping a card entity in step: what to send next, which sequence. */

/**
 * Least time between the starts of two operations on one card entity: at most 5 a second, half of the 10 per
 * second per card CardKit allows, so a retried call or a person's click never meets the limit.
 */
export const CARDKIT_OP_INTERVAL_MS = 200;
/** Feishu closes a card's streaming 10 minutes after it was turned on; the card is replaced a minute before. */
export const STREAM_LIFETIME_MS = 9 * 60_000;
/** Streaming was closed: 200850 on the first write after the 10-minute timeout, 300309 afterwards. */
export const STREAM_CLOSED = new Set([200850, 300309]);
/** A `sequence` not above the card's last one. */
export const SEQUENCE_CONFLICT = 300317;
/** Sequences of a card found again after a restart start from the time (in quarter seconds since 2025), above any used before. */
const SEQUENCE_EPOCH_MS = Date.UTC(2025, 0, 1);

/** CardKit would not create the card entity (the scope missing, or CardKit failing). */
export class CardKitRefused extends Error {
  constructor(override readonly cause: unknown) {
    super(`CardKit refused the card: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

export type CardKitClient = Pick<FeishuApi, 'createCard' | 'replyCard' | 'streamElement' | 'updateElement' | 'updateCard' | 'cardSettings'>;

export interface LiveCardOptions {
  opIntervalMs: number;
  streamLifetimeMs: number;
  /** Told of every failed operation (the owner remembers a refused permission). */
  onFailure?: (e: FeishuError) => void;
}

/** What a live card shows; asked anew before every operation, so the latest state always wins. */
export interface LiveCardSource {
  /** The whole card; its top-level elements carry element ids. `streaming`: as it is while streaming is on. */
  render(streaming: boolean): Card;
  /** What a card becomes once a fresh one carries on below it. */
  retired(): Card;
  /** The chat-list preview once the card is finished. */
  summary(): string;
  /** Element ids in the order they go when several changed; others follow in card order. */
  readonly priority: readonly string[];
}

export type Element = Record<string, unknown>;

export interface Snapshot {
  /** Everything but the elements: header and config. */
  frame: string;
  ids: string[];
  elements: Map<string, Element>;
  whole: string;
}

export function snapshot(card: Card): Snapshot {
  const { body, ...frame } = card as { body?: { elements?: Element[] } };
  const els = body?.elements ?? [];
  const ids = els.map((e, i) => String(e.element_id ?? `#${i}`));
  return { frame: JSON.stringify(frame), ids, elements: new Map(els.map((e, i) => [ids[i]!, e])), whole: JSON.stringify(card) };
}

export type Op = { kind: 'card'; card: Card } | { kind: 'text'; id: string; content: string } | { kind: 'element'; id: string; element: Element };

/**
 * The operation that brings the card from `sent` closer to `want`, or undefined when they are the same. While
 * streaming, a changed Markdown text streams (typed out when it extends the shown text) and another changed element
 * is replaced; a changed header, config or set of elements (and anything once streaming is off) replaces the card.
 */
export function nextOp(sent: Snapshot | undefined, want: Card, streaming: boolean, priority: readonly string[]): Op | undefined {
  const w = snapshot(want);
  if (sent && sent.whole === w.whole) return undefined;
  if (!sent || !streaming || sent.frame !== w.frame || sent.ids.join('\n') !== w.ids.join('\n')) return { kind: 'card', card: want };
  const order = [...priority.filter((id) => w.elements.has(id)), ...w.ids.filter((id) => !priority.includes(id))];
  for (const id of order) {
    const a = sent.elements.get(id)!;
    const b = w.elements.get(id)!;
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    const onlyText = a.tag === 'markdown' && b.tag === 'markdown' && JSON.stringify({ ...a, content: '' }) === JSON.stringify({ ...b, content: '' });
    return onlyText ? { kind: 'text', id, content: String(b.content) } : { kind: 'element', id, element: b };
  }
  return undefined;
}

/** The sequence a card found again after a restart starts above: the time in quarter seconds, under 2^31 until 2042. */
export function timeSequence(now = Date.now()): number {
  return Math.floor((now - SEQUENCE_EPOCH_MS) / 250);
}
