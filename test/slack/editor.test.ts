import type { WebClient } from '@slack/web-api';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PlatformStats } from '../../src/core/ports/chat.js';
import { silentLogger } from '../../src/core/ports/logger.js';
import { DEFAULT_BUDGET, SlackEditor, type EditBudget } from '../../src/platforms/slack/editor.js';
import { outboxContract, Wire, type FailureKind } from '../contracts/outbox.js';

/** Errors as @slack/web-api throws them: a platform error with Slack's code, or a rejected rate-limited call. */
function slackError(kind: FailureKind | 'ratelimited', retryAfter = 30): Error {
  if (kind === 'ratelimited') return Object.assign(new Error('A rate limit was exceeded'), { code: 'slack_webapi_rate_limited_error', retryAfter });
  const error = kind === 'permanent' ? 'message_not_found' : 'internal_error';
  return Object.assign(new Error(`An API error occurred: ${error}`), { code: 'slack_webapi_platform_error', data: { ok: false, error } });
}

/** A WebClient whose chat.update goes through the wire: message `ts`, view `text`. */
function fakeClient(wire: Wire): WebClient {
  return { chat: { update: (a: { ts: string; text: string }) => wire.send(a.ts, a.text) } } as unknown as WebClient;
}

function editor(wire: Wire, budget: EditBudget = DEFAULT_BUDGET, stats = new PlatformStats()): SlackEditor {
  return new SlackEditor(fakeClient(wire), silentLogger, budget, stats);
}

outboxContract({
  name: 'the Slack editor',
  create(wire) {
    const e = editor(wire);
    return {
      put: (id, view, final = false) => e.edit('C1', id, { text: view, blocks: [] }, { urgent: false, final }),
      drained: (ms) => e.drained(ms),
      stop: () => e.stop(),
    };
  },
  error: (kind) => slackError(kind),
  // One budget for the whole workspace: the burst, then perMinute.
  limit: { scope: 'all', maxIn: (ms) => Math.floor(DEFAULT_BUDGET.burst + (ms * DEFAULT_BUDGET.perMinute) / 60_000 + 1e-9) },
});

describe('the Slack editor', () => {
  let wire: Wire;
  let rateLimits: number;
  const pass = (ms: number) => vi.advanceTimersByTimeAsync(ms);
  const put = (e: SlackEditor, ts: string, text: string, opts: { urgent?: boolean; final?: boolean } = {}) =>
    e.edit('C1', ts, { text, blocks: [] }, { urgent: opts.urgent ?? false, final: opts.final ?? false });

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
    rateLimits = 0;
    wire = new Wire((kind) => slackError(kind));
    // The wire's first `rateLimits` sends answer 429 with Retry-After 30 s.
    const send = wire.send.bind(wire);
    wire.send = async (id, view) => {
      if (rateLimits > 0) {
        rateLimits--;
        wire.sends.push({ id, view, start: Date.now(), end: Date.now(), ok: false });
        throw slackError('ratelimited', 30);
      }
      return send(id, view);
    };
  });
  afterEach(() => vi.useRealTimers());

  it('serves urgent edits (phase changes, end states) first, then the others oldest first', async () => {
    const e = editor(wire, { perMinute: 60, burst: 1 });
    put(e, 'a', 'a1');
    await pass(10);
    put(e, 'b', 'b1');
    await pass(10);
    put(e, 'c', 'c1');
    put(e, 'd', 'd1', { urgent: true });
    await pass(10_000);
    expect(wire.sends.map((s) => s.view)).toEqual(['a1', 'd1', 'b1', 'c1']);
    // One a second after the burst.
    expect(wire.sends[1]!.start - wire.sends[0]!.start).toBeGreaterThanOrEqual(1000);
    e.stop();
  });

  it('an ordinary edit that has waited 5 s longer goes before an urgent one: none waits behind urgent edits for ever', async () => {
    const e = editor(wire, { perMinute: 6, burst: 1 });
    put(e, 'a', 'a1');
    await pass(10);
    put(e, 'b', 'b1');
    await pass(6_000);
    put(e, 'c', 'c1', { urgent: true });
    await pass(30_000);
    expect(wire.sends.map((s) => s.view)).toEqual(['a1', 'b1', 'c1']);
    e.stop();
  });

  it('a 429 pauses every edit for its Retry-After and keeps the edit, unless a newer one of its message came', async () => {
    const stats = new PlatformStats();
    const e = editor(wire, DEFAULT_BUDGET, stats);
    rateLimits = 1;
    put(e, 'a', 'a1');
    put(e, 'b', 'b1');
    await pass(1000);
    expect(wire.sends).toHaveLength(1);
    put(e, 'b', 'b2');
    await pass(28_000);
    expect(wire.sends).toHaveLength(1);
    await pass(2000);
    expect(wire.delivered('a')).toEqual(['a1']);
    expect(wire.delivered('b')).toEqual(['b2']);
    expect(wire.sends[1]!.start).toBeGreaterThanOrEqual(1_000_000 + 30_000);
    expect(stats.rateLimited).toBe(1);

    rateLimits = 1;
    put(e, 'a', 'a2');
    await pass(1000);
    put(e, 'a', 'a3');
    await pass(31_000);
    expect(wire.delivered('a')).toEqual(['a1', 'a3']);
    expect(stats.rateLimited).toBe(2);
    e.stop();
  });

  it('drained() waits for a pause that ends within its timeout, and does not wait for one that ends after', async () => {
    const e = editor(wire);
    rateLimits = 1;
    put(e, 'a', 'a1', { final: true });
    await pass(1000);
    // Paused until 30 s: nothing can be sent within 5 s.
    let at: number | undefined;
    void e.drained(5000).then(() => (at = Date.now()));
    await pass(0);
    expect(at).toBe(Date.now());
    // Within 60 s it can: drained() resolves once the edit is delivered.
    at = undefined;
    void e.drained(60_000).then(() => (at = Date.now()));
    await pass(60_000);
    expect(wire.delivered('a')).toEqual(['a1']);
    expect(at).toBeGreaterThanOrEqual(wire.sends.at(-1)!.end);
    expect(at).toBeLessThan(1_000_000 + 32_000);
    e.stop();
  });

  it('a failed ordinary edit is counted and dropped; a final one is tried at most 6 times', async () => {
    const stats = new PlatformStats();
    const e = editor(wire, DEFAULT_BUDGET, stats);
    wire.fail('a', 'transient');
    put(e, 'a', 'a1');
    await pass(10_000);
    expect(wire.attempts('a')).toBe(1);
    wire.fail('b', ...Array<FailureKind>(10).fill('transient'));
    put(e, 'b', 'b1', { final: true });
    await pass(60_000);
    expect(wire.attempts('b')).toBe(6);
    expect(stats.errors.get('internal_error')).toBe(7);
    e.stop();
  });
});
