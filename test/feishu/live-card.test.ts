import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/core/ports/logger.js';
import { FeishuError } from '../../src/platforms/feishu/api.js';
import { card, LIVE, LIVE_PROGRESS_MAX_BYTES, liveProgressCard, renderCard, type Card } from '../../src/platforms/feishu/cards.js';
import { nextOp, timeSequence, type CardKitClient, type LiveCardSource } from '../../src/platforms/feishu/cardkit-ops.js';
import { LiveCard } from '../../src/platforms/feishu/live-card.js';
import { joinParts, LIVE_REPORT_MAX_BYTES, liveCapacity } from '../../src/platforms/feishu/live-progress.js';
import type { View } from '../../src/core/ports/chat.js';
import { allViews, THREADS } from '../fixtures/views.js';
import { problems } from './card-rules.js';

type El = Record<string, unknown>;
type ProgressView = Extract<View, { kind: 'progress' }>;
const progressViews = allViews().filter((v): v is { name: string; view: ProgressView } => v.view.kind === 'progress');
const elementsOf = (c: Card) => (c.body as { elements: El[] }).elements;
const idsOf = (c: Card) => elementsOf(c).map((e) => e.element_id);
const buttonsOf = (c: Card) => JSON.stringify(c.body).match(/"a":"[a-z-]+"/g) ?? [];

describe('the live progress card (CardKit card JSON 2.0)', () => {
  it.each(progressViews.map((v) => [v.name, v.view] as const))('%s: every rule of the rule table, ids on every element, progress lines within their budget', (_name, view) => {
    for (const streaming of [true, false]) {
      const c = liveProgressCard(view, THREADS.feishu, '', streaming);
      expect(problems(c)).toEqual([]);
      expect((c.config as El).streaming_mode).toBe(streaming);
      const ids = idsOf(c);
      expect(ids.every((id) => typeof id === 'string')).toBe(true);
      expect(new Set(ids).size).toBe(ids.length);
      expect(Buffer.byteLength(JSON.stringify(c))).toBeLessThanOrEqual(LIVE_PROGRESS_MAX_BYTES);
      // The same buttons as the patched card.
      expect(buttonsOf(c)).toEqual(buttonsOf(renderCard(view, THREADS.feishu)));
    }
  });

  it('a report as large as the live card holds keeps the card under 30 KB, after a divider, in its own element', () => {
    const view = progressViews.find((v) => v.name === 'progress researching, written (zh, long)')!.view;
    const report = '固态电池'.repeat(LIVE_REPORT_MAX_BYTES / 12 - 10);
    expect(Buffer.byteLength(JSON.stringify(report))).toBeLessThanOrEqual(LIVE_REPORT_MAX_BYTES);
    const c = liveProgressCard(view, THREADS.feishu, report, true);
    expect(problems(c)).toEqual([]);
    expect(Buffer.byteLength(JSON.stringify(c))).toBeLessThan(29_000);
    expect(idsOf(c).slice(-2)).toEqual([LIVE.divider, LIVE.report]);
    expect(elementsOf(c).at(-1)).toEqual({ tag: 'markdown', element_id: LIVE.report, content: report });
  });

  it('the oldest rounds make way when the progress lines would pass their budget, and the count of hidden ones is shown', () => {
    const view = progressViews.find((v) => v.name === 'progress researching, searching (zh, long)')!.view;
    const rounds = String((elementsOf(liveProgressCard(view, THREADS.feishu, '', true)).find((e) => e.element_id === LIVE.rounds)!.text as El).content);
    expect(rounds).toMatch(/^… \+\d+\n/);
    expect(rounds).toContain(`第 ${view.progress!.rounds.length} 轮`);
  });

  it('liveCapacity: as many first parts as fit in the budget with at most three tables', () => {
    const table = (i: number) => `| a${i} | b |\n| --- | --- |\n| 1 | 2 |`;
    expect(liveCapacity(['one', table(1), table(2), table(3), table(4), 'six'])).toBe(4);
    expect(liveCapacity([`${table(1)}\n\n${table(2)}`, `${table(3)}\n\n${table(4)}`])).toBe(1);
    const big = 'x'.repeat(LIVE_REPORT_MAX_BYTES / 2);
    expect(liveCapacity([big, big, big])).toBe(1);
    expect(liveCapacity(['固'.repeat(LIVE_REPORT_MAX_BYTES / 3 + 1)])).toBe(0);
    expect(joinParts(['a', 'b'])).toBe('a\n\nb');
  });
});

describe('nextOp: which CardKit operation brings the card up to date', () => {
  const base = (status: string, rounds: string, extra: El[] = []) =>
    card('T', 'blue', [{ tag: 'markdown', element_id: 'status', content: status }, { tag: 'div', element_id: 'rounds', text: { tag: 'plain_text', content: rounds } }, ...extra], 'T');
  const sent = (c: Card) => {
    // The snapshot nextOp compares against is what was last sent: build it through a whole-card op.
    const op = nextOp(undefined, c, true, []);
    expect(op?.kind).toBe('card');
    return snapshotOf(c);
  };
  const snapshotOf = (c: Card) => {
    const { body, ...frame } = c as { body: { elements: El[] } };
    const ids = body.elements.map((e) => String(e.element_id));
    return { frame: JSON.stringify(frame), ids, elements: new Map(body.elements.map((e, i) => [ids[i]!, e])), whole: JSON.stringify(c) };
  };

  it('nothing changed: no operation', () => {
    expect(nextOp(sent(base('a', 'r')), base('a', 'r'), true, [])).toBeUndefined();
  });
  it('a Markdown text changed: its text streams', () => {
    expect(nextOp(sent(base('a', 'r')), base('ab', 'r'), true, [])).toEqual({ kind: 'text', id: 'status', content: 'ab' });
  });
  it('another element changed: that element is replaced', () => {
    expect(nextOp(sent(base('a', 'r')), base('a', 'r2'), true, [])).toMatchObject({ kind: 'element', id: 'rounds', element: { text: { content: 'r2' } } });
  });
  it('several changed: the first by priority goes first', () => {
    expect(nextOp(sent(base('a', 'r')), base('b', 'r2'), true, ['rounds', 'status'])).toMatchObject({ kind: 'element', id: 'rounds' });
    expect(nextOp(sent(base('a', 'r')), base('b', 'r2'), true, [])).toMatchObject({ kind: 'text', id: 'status' });
  });
  it('an element came or went, or the header changed: the whole card', () => {
    expect(nextOp(sent(base('a', 'r')), base('a', 'r', [{ tag: 'markdown', element_id: 'report', content: 'x' }]), true, [])?.kind).toBe('card');
    const green = { ...base('a', 'r'), header: { title: { tag: 'plain_text', content: 'T' }, template: 'green' } };
    expect(nextOp(sent(base('a', 'r')), green, true, [])?.kind).toBe('card');
  });
  it('streaming is off: always the whole card', () => {
    expect(nextOp(sent(base('a', 'r')), base('ab', 'r'), false, [])?.kind).toBe('card');
  });
  it('a card found again after a restart takes sequences above any used before (quarter seconds since 2025, below 2^31 until 2042)', () => {
    expect(timeSequence(Date.UTC(2026, 0, 1))).toBe(365 * 86_400 * 4);
    expect(timeSequence(Date.UTC(2042, 0, 1))).toBeLessThan(2 ** 31 - 1);
  });
});

/** A CardKit client under fake time: every call recorded with its start, answered after `latency`. */
class FakeClient implements CardKitClient {
  readonly calls: { fn: string; cardId: string; seq?: number; at: number; arg?: unknown }[] = [];
  /** Errors the next calls of a kind get, in order. */
  readonly fail: Record<string, FeishuError[]> = {};
  private cards = 0;
  constructor(private readonly latency = 30) {}
  private async call(fn: string, cardId: string, seq?: number, arg?: unknown): Promise<void> {
    this.calls.push({ fn, cardId, seq, at: Date.now(), arg });
    await new Promise((r) => setTimeout(r, this.latency));
    const e = this.fail[fn]?.shift();
    if (e) throw e;
  }
  async createCard(c: unknown) {
    const id = `c${++this.cards}`;
    await this.call('create', id, undefined, c);
    return id;
  }
  async replyCard(_root: string, cardId: string) {
    await this.call('reply', cardId);
    return `om_${cardId}`;
  }
  streamElement = async (cardId: string, id: string, content: string, seq: number) => this.call('text', cardId, seq, { id, content });
  updateElement = async (cardId: string, id: string, element: unknown, seq: number) => this.call('element', cardId, seq, { id, element });
  updateCard = async (cardId: string, c: unknown, seq: number) => this.call('card', cardId, seq, c);
  cardSettings = async (cardId: string, config: Record<string, unknown>, seq: number) => this.call('settings', cardId, seq, config);
  on(cardId: string) {
    return this.calls.filter((c) => c.cardId === cardId && c.seq !== undefined);
  }
}

class Source implements LiveCardSource {
  readonly priority = ['status'];
  state = 's0';
  render(streaming: boolean): Card {
    return { ...card('T', 'blue', [{ tag: 'markdown', element_id: 'status', content: this.state }], 'T'), config: { update_multi: true, streaming_mode: streaming } };
  }
  retired(): Card {
    return card('T', 'grey', [{ tag: 'markdown', content: 'continued below' }], 'T');
  }
  summary() {
    return 'T';
  }
}

describe('LiveCard: one card entity kept up to date through CardKit', () => {
  const OPTS = { opIntervalMs: 200, streamLifetimeMs: 60_000 };
  const pass = (ms: number) => vi.advanceTimersByTimeAsync(ms);
  let client: FakeClient;
  let source: Source;
  let live: LiveCard;

  beforeEach(async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    client = new FakeClient();
    source = new Source();
    const opened = LiveCard.open(client, 'om_root', source, OPTS, silentLogger);
    await pass(100);
    live = await opened;
  });
  afterEach(() => {
    live.stop();
    vi.useRealTimers();
  });

  it('is created with streaming on and sent by card_id', () => {
    expect(client.calls.map((c) => c.fn)).toEqual(['create', 'reply']);
    expect((client.calls[0]!.arg as Card).config).toMatchObject({ streaming_mode: true });
    expect(live.currentMessageId).toBe('om_c1');
  });

  it('coalesces: at most one operation per interval, sequences strictly increasing, the latest state last', async () => {
    for (let i = 1; i <= 300; i++) {
      source.state = `s${i}`;
      live.changed();
      await pass(10);
    }
    await pass(2000);
    const ops = client.on('c1');
    for (let i = 1; i < ops.length; i++) {
      expect(ops[i]!.at - ops[i - 1]!.at).toBeGreaterThanOrEqual(200);
      expect(ops[i]!.seq).toBe(ops[i - 1]!.seq! + 1);
    }
    expect(ops[0]!.seq).toBe(1);
    expect(ops.length).toBeLessThanOrEqual(3000 / 200 + 1);
    expect(ops.at(-1)).toMatchObject({ fn: 'text', arg: { id: 'status', content: 's300' } });
  });

  it('the final state goes as the whole card, then streaming is turned off; sync and whenFinished follow it', async () => {
    source.state = 'done';
    live.finish();
    let finished = false;
    void live.whenFinished().then(() => (finished = true));
    await pass(1000);
    const ops = client.on('c1');
    expect(ops.map((o) => o.fn)).toEqual(['card', 'settings']);
    expect((ops[0]!.arg as Card).config).toMatchObject({ streaming_mode: false });
    expect(ops[1]!.arg).toEqual({ streaming_mode: false, summary: { content: 'T' } });
    expect(finished).toBe(true);
    expect(live.finished).toBe(true);
  });

  it('streaming closed (200850): a fresh card carrying the latest state, the old one becomes a pointer', async () => {
    client.fail.text = [new FeishuError(200850, 'card streaming timeout', 400)];
    source.state = 's1';
    live.changed();
    await pass(10);
    // Changed again while the write that fails is in flight: the fresh card is created with this state.
    source.state = 's2';
    live.changed();
    await pass(2000);
    expect(live.replacements).toBe(1);
    const created = client.calls.filter((c) => c.fn === 'create');
    expect((created[1]!.arg as Card).body).toMatchObject({ elements: [{ content: 's2' }] });
    expect(live.messageIds).toEqual(['om_c1', 'om_c2']);
    const old = client.on('c1');
    expect(old.map((o) => o.fn)).toEqual(['text', 'card']);
    expect(old[1]!.seq).toBeGreaterThan(old[0]!.seq!);
    expect(JSON.stringify(old[1]!.arg)).toContain('continued below');
    // The fresh card starts its own sequence and needs nothing more: it was created with the latest state.
    source.state = 's3';
    live.changed();
    await pass(1000);
    expect(client.on('c2')).toMatchObject([{ fn: 'text', seq: 1, arg: { content: 's3' } }]);
  });

  it('a card about to reach the streaming lifetime is replaced first, and the old one turned off', async () => {
    await pass(60_000);
    source.state = 's1';
    live.changed();
    await pass(2000);
    expect(live.replacements).toBe(1);
    expect(client.on('c1').map((o) => o.fn)).toEqual(['card', 'settings']);
    expect(client.on('c1')[1]!.arg).toMatchObject({ streaming_mode: false });
  });

  it('once settled (the report is delivered below it) a closed card is updated whole, never replaced', async () => {
    live.settle();
    client.fail.text = [new FeishuError(300309, 'streaming mode is closed', 400)];
    source.state = 's1';
    live.changed();
    await pass(2000);
    expect(live.replacements).toBe(0);
    expect(client.on('c1').map((o) => o.fn)).toEqual(['text', 'card']);
    expect(client.on('c1')[1]!.arg).toMatchObject({ body: { elements: [{ content: 's1' }] }, config: { streaming_mode: false } });
    expect(await Promise.race([live.sync(5000), pass(5000).then(() => 'timeout')])).toBe(true);
  });

  it('a sequence conflict (300317) moves the sequence well ahead and the state still arrives', async () => {
    client.fail.text = [new FeishuError(300317, 'sequence number compare failed', 400)];
    source.state = 's1';
    live.changed();
    await pass(3000);
    const ops = client.on('c1');
    expect(ops.map((o) => o.fn)).toEqual(['text', 'text']);
    expect(ops[1]!.seq).toBeGreaterThan(1000);
  });

  it('a card found again after a restart: the card id looked up first, sequences from the time, the whole card', async () => {
    let asked = 0;
    const adopted = LiveCard.adopt(client, 'om_root', 'om_old', source, OPTS, silentLogger, { resolve: async () => (asked++, 'c9') }, () => {});
    source.state = 'after restart';
    adopted.changed();
    await pass(2000);
    adopted.stop();
    expect(asked).toBe(1);
    const ops = client.on('c9');
    expect(ops).toHaveLength(1);
    expect(ops[0]).toMatchObject({ fn: 'card', arg: { config: { streaming_mode: false } } });
    expect(ops[0]!.seq).toBeGreaterThan(timeSequence(1_000_000 + 100));
  });
});
