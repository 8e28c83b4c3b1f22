import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/core/ports/logger.js';
import { FeishuError, type FeishuApi } from '../../src/platforms/feishu/api.js';
import { card, type Card } from '../../src/platforms/feishu/cards.js';
import { CardPatcher, PATCH_INTERVAL_MS } from '../../src/platforms/feishu/patcher.js';
import { outboxContract, Wire, type FailureKind } from '../contracts/outbox.js';

/** Errors as FeishuApi throws them: an HTTP 500 without a body, or 230011 (the message was withdrawn). */
const feishuError = (kind: FailureKind) => (kind === 'permanent' ? new FeishuError(230011, 'The message was withdrawn.') : new FeishuError(-500, 'Internal Server Error', 500));

/** A card whose header title is the view. */
const cardOf = (view: string): Card => card(view, 'blue', [], view);
const viewOf = (c: Card) => (c.header as { title: { content: string } }).title.content;

/** A FeishuApi whose patch goes through the wire. */
function fakeApi(wire: Wire): FeishuApi {
  return { patch: (messageId: string, c: Card) => wire.send(messageId, viewOf(c)) } as unknown as FeishuApi;
}

outboxContract({
  name: 'the Feishu card patcher',
  create(wire) {
    const p = new CardPatcher(fakeApi(wire), silentLogger);
    return { put: (id, view, final = false) => p.patch(id, cardOf(view), final), drained: (ms) => p.drained(ms), stop: () => p.stop() };
  },
  error: feishuError,
  // Each card on its own: one patch, then one per interval (counted from the end of the previous one).
  limit: { scope: 'message', maxIn: (ms) => 1 + Math.floor(ms / PATCH_INTERVAL_MS) },
});

describe('the Feishu card patcher', () => {
  let wire: Wire;
  let patcher: CardPatcher;
  const pass = (ms: number) => vi.advanceTimersByTimeAsync(ms);
  const start = (id: string, view: string) => wire.sends.find((s) => s.id === id && s.view === view)!.start;

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
    wire = new Wire(feishuError, 200);
    patcher = new CardPatcher(fakeApi(wire), silentLogger);
  });
  afterEach(() => {
    patcher.stop();
    vi.useRealTimers();
  });

  it('patches no card more often than once per 1.5 s, counted from the end of its previous patch', async () => {
    expect(PATCH_INTERVAL_MS).toBe(1500);
    patcher.patch('a', cardOf('a1'), false);
    await pass(1);
    patcher.patch('a', cardOf('a2'), false);
    await pass(10_000);
    expect(wire.delivered('a')).toEqual(['a1', 'a2']);
    expect(start('a', 'a2')).toBe(start('a', 'a1') + 200 + PATCH_INTERVAL_MS);
  });

  it("keeps each card's interval apart: a patch of one card does not wait for another's", async () => {
    patcher.patch('a', cardOf('a1'), false);
    await pass(300);
    patcher.patch('a', cardOf('a2'), false);
    patcher.patch('b', cardOf('b1'), false);
    await pass(10_000);
    expect(start('b', 'b1')).toBe(1_000_000 + 300);
    expect(start('a', 'a2')).toBe(1_000_000 + 200 + PATCH_INTERVAL_MS);
  });

  it('remembers an idle card for one interval, so its next patch still waits its turn, and not longer', async () => {
    patcher.patch('a', cardOf('a1'), false);
    await pass(1000);
    patcher.patch('a', cardOf('a2'), false);
    await pass(10_000);
    expect(start('a', 'a2')).toBe(1_000_000 + 200 + PATCH_INTERVAL_MS);
    const idle = Date.now();
    patcher.patch('a', cardOf('a3'), false);
    await pass(10_000);
    expect(start('a', 'a3')).toBe(idle);
  });

  it('tries a final card at most 5 times, a patch in between at most once', async () => {
    wire.fail('a', 'transient');
    patcher.patch('a', cardOf('a1'), false);
    await pass(10_000);
    expect(wire.attempts('a')).toBe(1);
    wire.fail('b', ...Array<FailureKind>(10).fill('transient'));
    patcher.patch('b', cardOf('b1'), true);
    await pass(60_000);
    expect(wire.attempts('b')).toBe(5);
    // It was given up: nothing waits for it.
    let at: number | undefined;
    void patcher.drained(60_000).then(() => (at = Date.now()));
    await pass(0);
    expect(at).toBe(Date.now());
  });
});
