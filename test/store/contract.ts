import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AdmissionRule, ThreadStore } from '../../src/core/ports/store.js';
import type { RunState, ThreadState } from '../../src/core/ports/thread.js';

/**
 * The ThreadStore contract: what the engine relies on from any store, run against every implementation (SQLite,
 * Redis). Each test gets a fresh, empty store; `peer` (when the implementation has one) opens a second handle on the
 * same data, as another bot process would, and the races below split their calls between the two.
 *
 * Expiry that the store takes from the caller's `now` (pages, hit windows) is driven by the injected time; expiry
 * a store may leave to its server's clock (claimed events, a page's lifetime) is checked with real time by polling
 * for the change, never by sleeping and asserting nothing happened.
 */
export interface ContractOptions {
  /** A second handle on the data of `store` (another connection, as another process would have). */
  peer?: (store: ThreadStore) => Promise<ThreadStore>;
}

let seq = 0;

/** A thread as the engine first writes it (version 0: not stored yet), with a key unique to the run. */
export function newThread(over: Partial<ThreadState> = {}): ThreadState {
  const now = Date.now();
  return {
    key: `T:${process.pid}:${++seq}`,
    platform: 'test',
    channel: 'C1',
    requester: 'U1',
    topic: 'solid-state batteries',
    lang: 'en',
    state: 'clarifying',
    step: 1,
    attempts: 0,
    notices: [],
    round: 1,
    version: 0,
    createdAt: now,
    updatedAt: now,
    ...over,
  };
}

const DAY = '2026-11-21';
const BUSY: RunState[] = ['clarifying', 'queued', 'researching'];
const rule = (over: Partial<AdmissionRule> = {}): AdmissionRule => ({ busy: BUSY, perUser: 1, dailyLimit: 0, countDaily: false, day: DAY, ...over });

export function storeContract(name: string, makeStore: () => Promise<ThreadStore>, opts: ContractOptions = {}): void {
  describe(`${name}: the ThreadStore contract`, () => {
    let store: ThreadStore;
    let opened: ThreadStore[] = [];

    beforeEach(async () => {
      store = await makeStore();
      opened.push(store);
    });
    afterEach(async () => {
      for (const s of opened.reverse()) await s.close();
      opened = [];
    });

    /** The store and, when there is one, a second handle on its data: calls alternate between them. */
    async function handles(): Promise<ThreadStore[]> {
      if (!opts.peer) return [store];
      const peer = await opts.peer(store);
      opened.push(peer);
      return [store, peer];
    }

    /** Stores a new thread and returns it as stored. */
    async function stored(over: Partial<ThreadState> = {}): Promise<ThreadState> {
      const saved = await store.save(newThread(over));
      expect(saved).toBeDefined();
      return saved!;
    }

    describe('claimEvent', () => {
      it('is true the first time an id is claimed and false for a duplicate; ids are independent', async () => {
        const now = Date.now();
        expect(await store.claimEvent('Ev1', 60_000, now)).toBe(true);
        expect(await store.claimEvent('Ev1', 60_000, now + 1)).toBe(false);
        expect(await store.claimEvent('Ev2', 60_000, now + 2)).toBe(true);
      });

      it('50 concurrent claims of one id: exactly one wins', async () => {
        const hs = await handles();
        const now = Date.now();
        const won = await Promise.all(Array.from({ length: 50 }, (_, i) => hs[i % hs.length]!.claimEvent('EvRace', 60_000, now)));
        expect(won.filter(Boolean)).toHaveLength(1);
      });

      it('can be claimed again once its ttl has passed', async () => {
        expect(await store.claimEvent('EvTtl', 300, Date.now())).toBe(true);
        expect(await store.claimEvent('EvTtl', 300, Date.now())).toBe(false);
        await expect.poll(() => store.claimEvent('EvTtl', 300, Date.now()), { timeout: 5000, interval: 50 }).toBe(true);
        expect(await store.claimEvent('EvTtl', 60_000, Date.now())).toBe(false);
      });
    });

    describe('get and save', () => {
      it('get of an unknown thread is undefined', async () => {
        expect(await store.get('nowhere')).toBeUndefined();
      });

      it('a new thread (version 0) is written with version 1 and read back whole', async () => {
        const t = newThread({
          state: 'done',
          step: 2,
          attempts: 1,
          question: 'Which chemistries?',
          answer: 'sulfide electrolytes',
          failure: { code: 'internal', detail: 'x', retryable: true },
          usage: { inputTokens: 10, outputTokens: 20 },
          notices: ['queued'],
          turns: [{ id: 1, user: 'U2', question: 'why?', askedAt: 5 }],
          result: { answer: '# Report ünïcödé 中文 "quotes"', references: [{ index: 1, url: 'https://a.example', title: 'A', description: 'd' }] },
        });
        const saved = await store.save(t);
        expect(saved).toEqual({ ...t, version: 1 });
        expect(await store.get(t.key)).toEqual({ ...t, version: 1 });
      });

      it('versions count up with each save, and each save replaces the whole thread', async () => {
        const v1 = await stored({ failure: { code: 'internal', retryable: true } });
        const { failure: _, ...rest } = v1;
        const v2 = await store.save({ ...rest, state: 'failed', updatedAt: v1.updatedAt + 1 });
        expect(v2?.version).toBe(2);
        const v3 = await store.save({ ...v2!, topic: 'sodium-ion', updatedAt: v1.updatedAt + 2 });
        expect(v3?.version).toBe(3);
        const read = await store.get(v1.key);
        expect(read).toEqual(v3);
        expect(read).not.toHaveProperty('failure');
      });

      it('refuses a write whose version is not the stored one, and keeps the stored thread', async () => {
        const v1 = await stored();
        expect(await store.save(newThread({ key: v1.key, topic: 'created twice' }))).toBeUndefined();
        expect(await store.save({ ...v1, version: 0, topic: 'stale' })).toBeUndefined();
        expect(await store.save({ ...v1, version: 2, topic: 'ahead' })).toBeUndefined();
        expect(await store.get(v1.key)).toEqual(v1);
        expect(await store.save({ ...newThread(), version: 3 })).toBeUndefined();
      });

      it('20 concurrent saves at the same version: exactly one wins, and it is what is stored', async () => {
        const hs = await handles();
        const v1 = await stored();
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => hs[i % hs.length]!.save({ ...v1, topic: `writer ${i}`, updatedAt: v1.updatedAt + i })),
        );
        const winners = results.filter((r) => r !== undefined);
        expect(winners).toHaveLength(1);
        expect(winners[0]!.version).toBe(2);
        expect(await store.get(v1.key)).toEqual(winners[0]);
      });

      it('20 concurrent creations of one new thread: exactly one wins', async () => {
        const hs = await handles();
        const t = newThread();
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => hs[i % hs.length]!.save({ ...t, topic: `creator ${i}` })));
        expect(results.filter((r) => r !== undefined)).toHaveLength(1);
        expect((await store.get(t.key))?.version).toBe(1);
      });
    });

    describe('inStates and countByState', () => {
      it('answers the threads in any of the states, oldest first across states, with their stored versions', async () => {
        const t0 = Date.now();
        const c = await stored({ state: 'queued', updatedAt: t0 + 3 });
        const a = await stored({ state: 'researching', updatedAt: t0 + 1 });
        const b = await stored({ state: 'clarifying', updatedAt: t0 + 2 });
        await stored({ state: 'done', updatedAt: t0 });
        await stored({ state: 'awaiting_answer', updatedAt: t0 + 4 });
        const b2 = await store.save({ ...b, updatedAt: t0 + 2 });
        const found = await store.inStates(['clarifying', 'queued', 'researching']);
        expect(found.map((t) => t.key)).toEqual([a.key, b.key, c.key]);
        expect(found).toEqual([a, b2, c]);
        expect(await store.inStates(['cancelled'])).toEqual([]);
        expect(await store.inStates([])).toEqual([]);
        expect((await store.inStates(['queued', 'queued'])).map((t) => t.key)).toEqual([c.key]);
      });

      it('with updatedSince, only threads last written at or after it', async () => {
        const t0 = Date.now();
        await stored({ state: 'done', updatedAt: t0 - 10 });
        const at = await stored({ state: 'failed', updatedAt: t0 });
        const after = await stored({ state: 'done', updatedAt: t0 + 5 });
        await stored({ state: 'queued', updatedAt: t0 + 6 });
        expect((await store.inStates(['done', 'failed', 'cancelled'], t0)).map((t) => t.key)).toEqual([at.key, after.key]);
        expect(await store.inStates(['done'], t0 + 6)).toEqual([]);
      });

      it('a thread that changes state moves between the indexes, ordered by its new updatedAt', async () => {
        const t0 = Date.now();
        const x = await stored({ state: 'queued', updatedAt: t0 });
        const y = await stored({ state: 'queued', updatedAt: t0 + 1 });
        await stored({ state: 'done', updatedAt: t0 + 2 });
        const x2 = await store.save({ ...x, state: 'done', updatedAt: t0 + 3 });
        expect((await store.inStates(['queued'])).map((t) => t.key)).toEqual([y.key]);
        expect((await store.inStates(['done'])).map((t) => t.key).at(-1)).toBe(x.key);
        expect((await store.inStates(['done'])).at(-1)).toEqual(x2);
        expect(await store.countByState()).toEqual({ queued: 1, done: 2 });
        await store.save({ ...y, state: 'researching', updatedAt: t0 + 4 });
        expect(await store.countByState()).toEqual({ researching: 1, done: 2 });
      });

      it('countByState of an empty store is empty; a refused save changes nothing', async () => {
        expect(await store.countByState()).toEqual({});
        const v1 = await stored({ state: 'queued' });
        expect(await store.save({ ...v1, version: 0, state: 'done' })).toBeUndefined();
        expect(await store.countByState()).toEqual({ queued: 1 });
        expect((await store.inStates(['done'])).length).toBe(0);
      });
    });

    describe('admit', () => {
      it('saves the thread like save and, with countDaily, counts the request for the requester and day', async () => {
        const t = newThread({ state: 'queued' });
        const admitted = await store.admit(t, rule({ countDaily: true, dailyLimit: 5 }));
        expect(admitted).toEqual({ ok: true, state: { ...t, version: 1 } });
        expect(await store.get(t.key)).toEqual({ ...t, version: 1 });
        expect(await store.runsOn('U1', DAY)).toBe(1);
        expect(await store.runsOn('U1', '2026-11-22')).toBe(0);
        expect(await store.runsOn('U2', DAY)).toBe(0);
        expect(await store.countByState()).toEqual({ queued: 1 });
      });

      it('refuses a requester with perUser other threads in busy states, saving and counting nothing', async () => {
        await stored({ state: 'researching' });
        const t = newThread({ state: 'queued' });
        expect(await store.admit(t, rule({ countDaily: true }))).toEqual({ ok: false, reason: 'per-user' });
        expect(await store.get(t.key)).toBeUndefined();
        expect(await store.runsOn('U1', DAY)).toBe(0);
        expect((await store.admit(newThread({ requester: 'U2', state: 'queued' }), rule())).ok).toBe(true);
        expect((await store.admit(t, rule({ perUser: 2 }))).ok).toBe(true);
      });

      it('counts only busy states, not the thread itself, and follows threads that leave them', async () => {
        await stored({ state: 'awaiting_answer' });
        await stored({ state: 'done' });
        const own = await stored({ state: 'clarifying' });
        // The thread's own busy state is not another thread.
        const again = await store.admit({ ...own, state: 'queued' }, rule());
        expect(again.ok).toBe(true);
        const t = newThread({ state: 'queued' });
        expect(await store.admit(t, rule())).toEqual({ ok: false, reason: 'per-user' });
        const running = again.ok ? again.state : own;
        await store.save({ ...running, state: 'done', updatedAt: running.updatedAt + 1 });
        expect((await store.admit(t, rule())).ok).toBe(true);
        // The busy states are the rule's: awaiting_answer counts only when named.
        expect(await store.admit(newThread({ state: 'queued' }), rule({ busy: ['awaiting_answer'] }))).toEqual({ ok: false, reason: 'per-user' });
      });

      it('refuses past dailyLimit requests that day; other days and dailyLimit 0 are not limited; per-user is checked first', async () => {
        const r = rule({ perUser: 10, countDaily: true, dailyLimit: 2 });
        expect((await store.admit(newThread({ state: 'queued' }), r)).ok).toBe(true);
        expect((await store.admit(newThread({ state: 'queued' }), r)).ok).toBe(true);
        expect(await store.admit(newThread({ state: 'queued' }), r)).toEqual({ ok: false, reason: 'daily' });
        expect(await store.runsOn('U1', DAY)).toBe(2);
        expect((await store.admit(newThread({ state: 'queued' }), { ...r, day: '2026-11-22' })).ok).toBe(true);
        expect((await store.admit(newThread({ state: 'queued' }), { ...r, dailyLimit: 0 })).ok).toBe(true);
        expect(await store.runsOn('U1', DAY)).toBe(3);
        // Without countDaily the day is neither checked nor counted.
        expect((await store.admit(newThread({ state: 'queued' }), { ...r, countDaily: false })).ok).toBe(true);
        expect(await store.runsOn('U1', DAY)).toBe(3);
        expect(await store.admit(newThread({ state: 'queued' }), { ...r, perUser: 1 })).toEqual({ ok: false, reason: 'per-user' });
      });

      it('answers conflict for a stale version and counts nothing', async () => {
        const v1 = await stored({ state: 'awaiting_answer' });
        await store.save({ ...v1, answer: 'elsewhere' });
        expect(await store.admit({ ...v1, state: 'queued' }, rule({ countDaily: true }))).toEqual({ ok: false, reason: 'conflict' });
        expect(await store.runsOn('U1', DAY)).toBe(0);
        expect((await store.get(v1.key))?.answer).toBe('elsewhere');
      });

      it('perUser 1, 10 concurrent threads of one requester: exactly one admitted', async () => {
        const hs = await handles();
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => hs[i % hs.length]!.admit(newThread({ state: 'queued' }), rule())));
        expect(results.filter((r) => r.ok)).toHaveLength(1);
        expect(results.filter((r) => !r.ok && r.reason === 'per-user')).toHaveLength(9);
        expect(await store.countByState()).toEqual({ queued: 1 });
      });

      it('dailyLimit 2, 6 concurrent requests: exactly two admitted and counted', async () => {
        const hs = await handles();
        const r = rule({ perUser: 100, dailyLimit: 2, countDaily: true });
        const results = await Promise.all(Array.from({ length: 6 }, (_, i) => hs[i % hs.length]!.admit(newThread({ state: 'queued' }), r)));
        expect(results.filter((x) => x.ok)).toHaveLength(2);
        expect(results.filter((x) => !x.ok && x.reason === 'daily')).toHaveLength(4);
        expect(await store.runsOn('U1', DAY)).toBe(2);
      });

      it('10 concurrent admissions of one thread at one version: one admitted, the rest conflict, counted once', async () => {
        const hs = await handles();
        const v1 = await stored({ state: 'awaiting_answer' });
        const r = rule({ countDaily: true, dailyLimit: 5 });
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => hs[i % hs.length]!.admit({ ...v1, state: 'queued' }, r)));
        expect(results.filter((x) => x.ok)).toHaveLength(1);
        expect(results.filter((x) => !x.ok && x.reason === 'conflict')).toHaveLength(9);
        expect(await store.runsOn('U1', DAY)).toBe(1);
      });
    });

    describe('hit', () => {
      it('allows limit hits in the window, counts no refused hit, and lets hits leave the window', async () => {
        const t = Date.now();
        expect(await store.hit('b', 2, 1000, t)).toBe(true);
        expect(await store.hit('b', 2, 1000, t + 1)).toBe(true);
        expect(await store.hit('b', 2, 1000, t + 2)).toBe(false);
        expect(await store.hit('b', 2, 1000, t + 999)).toBe(false);
        // The first hit is exactly a window old: it has left; the refused ones were never counted.
        expect(await store.hit('b', 2, 1000, t + 1000)).toBe(true);
        expect(await store.hit('b', 2, 1000, t + 1000)).toBe(false);
        expect(await store.hit('b', 2, 1000, t + 1001)).toBe(true);
        expect(await store.hit('other', 2, 1000, t + 1001)).toBe(true);
        expect(await store.hit('b', 0, 1000, t + 5000)).toBe(false);
      });

      it('50 concurrent hits with limit 20: exactly 20 allowed', async () => {
        const hs = await handles();
        const t = Date.now();
        const allowed = await Promise.all(Array.from({ length: 50 }, (_, i) => hs[i % hs.length]!.hit('race', 20, 60_000, t + (i % 7))));
        expect(allowed.filter(Boolean)).toHaveLength(20);
        expect(await store.hit('race', 20, 60_000, t + 10)).toBe(false);
        expect(await store.hit('race', 21, 60_000, t + 10)).toBe(true);
      });
    });

    describe('threadOfMessage', () => {
      it('finds the thread of its clarify and progress messages, recorded on save', async () => {
        const v1 = await stored();
        expect(await store.threadOfMessage('M-clarify')).toBeUndefined();
        const v2 = await store.save({ ...v1, clarifyMessageId: 'M-clarify' });
        expect(await store.threadOfMessage('M-clarify')).toBe(v1.key);
        const v3 = await store.save({ ...v2!, progressMessageId: 'M-progress-1' });
        await store.save({ ...v3!, progressMessageId: 'M-progress-2' });
        expect(await store.threadOfMessage('M-progress-1')).toBe(v1.key);
        expect(await store.threadOfMessage('M-progress-2')).toBe(v1.key);
        expect(await store.threadOfMessage('M-unknown')).toBeUndefined();
      });

      it('a refused save records no message; an admitted one does', async () => {
        const v1 = await stored();
        expect(await store.save({ ...v1, version: 0, clarifyMessageId: 'M-lost' })).toBeUndefined();
        expect(await store.threadOfMessage('M-lost')).toBeUndefined();
        const t = newThread({ state: 'queued', progressMessageId: 'M-admitted' });
        expect((await store.admit(t, rule({ perUser: 10 }))).ok).toBe(true);
        expect(await store.threadOfMessage('M-admitted')).toBe(t.key);
      });
    });

    describe('feedback', () => {
      it("counts each person's latest click per thread: a later click replaces an earlier one", async () => {
        const now = Date.now();
        expect(await store.countFeedback()).toEqual({ good: 0, bad: 0 });
        await store.saveFeedback('T1', 'U1', 'good', now);
        await store.saveFeedback('T1', 'U2', 'good', now);
        expect(await store.countFeedback()).toEqual({ good: 2, bad: 0 });
        await store.saveFeedback('T1', 'U1', 'bad', now + 1);
        expect(await store.countFeedback()).toEqual({ good: 1, bad: 1 });
        await store.saveFeedback('T1', 'U1', 'bad', now + 2);
        expect(await store.countFeedback()).toEqual({ good: 1, bad: 1 });
        await store.saveFeedback('T2', 'U1', 'good', now + 3);
        await store.saveFeedback('T1', 'U2', 'bad', now + 4);
        expect(await store.countFeedback()).toEqual({ good: 1, bad: 2 });
      });

      it('concurrent clicks of one person on one thread count once', async () => {
        const hs = await handles();
        const now = Date.now();
        await Promise.all(Array.from({ length: 20 }, (_, i) => hs[i % hs.length]!.saveFeedback('T1', 'U1', i % 2 ? 'good' : 'bad', now + i)));
        const counts = await store.countFeedback();
        expect(counts.good + counts.bad).toBe(1);
      });
    });

    describe('spend', () => {
      it('sums a month’s costs as floats; months are separate; an unknown month is 0', async () => {
        expect(await store.spentIn('2026-11')).toBe(0);
        await store.addSpend('2026-11', 0.1);
        await store.addSpend('2026-11', 0.2);
        await store.addSpend('2026-12', 12.345);
        expect(await store.spentIn('2026-11')).toBeCloseTo(0.3, 10);
        expect(await store.spentIn('2026-12')).toBeCloseTo(12.345, 10);
      });

      it('concurrent additions are all counted', async () => {
        const hs = await handles();
        await Promise.all(Array.from({ length: 40 }, (_, i) => hs[i % hs.length]!.addSpend('2026-10', 0.05)));
        expect(await store.spentIn('2026-10')).toBeCloseTo(2, 9);
      });
    });

    describe('pages', () => {
      it('keeps a page without expiry; an unknown page is undefined', async () => {
        const now = Date.now();
        await store.savePage('P1', '{"title":"Report"}', now);
        expect(await store.getPage('P1', now + 10 * 365 * 86_400_000)).toBe('{"title":"Report"}');
        expect(await store.getPage('P-unknown', now)).toBeUndefined();
      });

      it('answers a page until expiresAt, by the `now` given', async () => {
        const now = Date.now();
        await store.savePage('P2', 'data', now, now + 60_000);
        expect(await store.getPage('P2', now + 59_999)).toBe('data');
        expect(await store.getPage('P2', now + 60_000)).toBeUndefined();
      });

      it('a page is gone once its lifetime has passed', async () => {
        const now = Date.now();
        await store.savePage('P3', 'short-lived', now, now + 300);
        expect(await store.getPage('P3', Date.now())).toBe('short-lived');
        await expect.poll(() => store.getPage('P3', Date.now()), { timeout: 5000, interval: 50 }).toBeUndefined();
      });
    });

    describe('health', () => {
      it('ping is true while the store works; close can be called twice', async () => {
        expect(await store.ping()).toBe(true);
        await store.close();
        await store.close();
        opened = opened.filter((s) => s !== store);
      });
    });
  });
}
