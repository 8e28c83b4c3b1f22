import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

/**
 * The outbox contract: what the core relies on when it hands a platform a view to show in a posted message
 * (`Platform.update`): the Slack editor and the Feishu patcher both keep it. Each runs under fake timers against a
 * fake client that sends through a `Wire`, never the network.
 *
 * - coalescing: views queued while an earlier one waits or is in flight collapse into the latest one;
 * - the final view of a message is always delivered (retried after a failure that may pass), and `drained()`
 *   waits for it;
 * - failure isolation: a failed send neither throws nor stops later sends, of that message or of others;
 * - the platform's rate limit (Slack's edit budget, Feishu's interval per card) holds under a steady stream.
 */

export type FailureKind = 'transient' | 'permanent';

export interface SendRecord {
  id: string;
  view: string;
  start: number;
  /** NaN while in flight. */
  end: number;
  ok: boolean;
}

/** The far side of the fake client: records every send, takes `latencyMs` (fake time) and fails on request. */
export class Wire {
  readonly sends: SendRecord[] = [];
  /** The most sends of one message in flight at once. */
  maxInFlight = 0;
  private readonly inFlight = new Map<string, number>();
  private readonly failures = new Map<string, FailureKind[]>();

  constructor(
    private readonly error: (kind: FailureKind) => unknown,
    readonly latencyMs = 20,
  ) {}

  /** The next sends of message `id` fail, one per kind given. */
  fail(id: string, ...kinds: FailureKind[]): void {
    this.failures.set(id, [...(this.failures.get(id) ?? []), ...kinds]);
  }

  /** A send as the fake client makes it: recorded when it starts, answered `latencyMs` later. */
  async send(id: string, view: string): Promise<void> {
    const record: SendRecord = { id, view, start: Date.now(), end: Number.NaN, ok: false };
    this.sends.push(record);
    const n = (this.inFlight.get(id) ?? 0) + 1;
    this.inFlight.set(id, n);
    this.maxInFlight = Math.max(this.maxInFlight, n);
    await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    this.inFlight.set(id, (this.inFlight.get(id) ?? 1) - 1);
    const failure = this.failures.get(id)?.shift();
    record.end = Date.now();
    record.ok = !failure;
    if (failure) throw this.error(failure);
  }

  /** Views of message `id` that arrived, in order. */
  delivered(id: string): string[] {
    return this.sends.filter((s) => s.id === id && s.ok).map((s) => s.view);
  }

  /** Sends of message `id` started so far. */
  attempts(id: string): number {
    return this.sends.filter((s) => s.id === id).length;
  }
}

export interface OutboxUnderTest {
  /** Queues `view` for message `id`; `final` marks the message's end state. Must not throw. */
  put(id: string, view: string, final?: boolean): void;
  drained(timeoutMs: number): Promise<void>;
  stop(): void;
}

export interface OutboxFactory {
  name: string;
  /** The outbox with its production settings, over a fake client whose calls go through `wire`. */
  create(wire: Wire): OutboxUnderTest;
  /** The client's error for a failure that may pass (a 5xx) and for one that cannot (the message is gone). */
  error(kind: FailureKind): unknown;
  /** The most sends the outbox may start within any span of `ms`: per message, or over all messages. */
  limit: { scope: 'message' | 'all'; maxIn(ms: number): number };
}

/** Registers the contract's tests for one outbox. */
export function outboxContract(f: OutboxFactory): void {
  describe(`${f.name} keeps the outbox contract`, () => {
    let wire: Wire;
    let outbox: OutboxUnderTest;
    /** Lets fake time pass, running every timer and promise due meanwhile. */
    const pass = (ms: number) => vi.advanceTimersByTimeAsync(ms);
    /** When `p` settled (fake time), or undefined while it has not. */
    const settledAt = (p: Promise<unknown>) => {
      const out: { at?: number } = {};
      void p.then(() => (out.at = Date.now()));
      return out;
    };

    beforeEach(() => {
      vi.useFakeTimers({ now: 1_000_000 });
      wire = new Wire(f.error);
      outbox = f.create(wire);
    });
    afterEach(() => {
      outbox.stop();
      vi.useRealTimers();
    });

    describe('coalescing', () => {
      it('views queued together go out as one send of the latest', async () => {
        outbox.put('a', 'a1');
        outbox.put('a', 'a2');
        outbox.put('a', 'a3');
        await pass(60_000);
        expect(wire.delivered('a')).toEqual(['a3']);
      });

      it('views queued while a send is in flight wait for it, and only the latest of them goes next', async () => {
        outbox.put('a', 'a1');
        await pass(1);
        expect(wire.attempts('a')).toBe(1);
        outbox.put('a', 'a2');
        outbox.put('a', 'a3');
        outbox.put('a', 'a4');
        await pass(60_000);
        expect(wire.delivered('a')).toEqual(['a1', 'a4']);
        expect(wire.maxInFlight).toBe(1);
      });
    });

    describe('the final state', () => {
      it('is delivered after the views before it, and drained() resolves only once it is', async () => {
        outbox.put('a', 'a1');
        await pass(1);
        outbox.put('a', 'a2');
        outbox.put('a', 'a3', true);
        const drained = settledAt(outbox.drained(600_000));
        await pass(600_000);
        expect(wire.delivered('a').at(-1)).toBe('a3');
        const final = wire.sends.find((s) => s.view === 'a3')!;
        expect(drained.at).toBeGreaterThanOrEqual(final.end);
        expect(drained.at).toBeLessThan(1_000_000 + 600_000);
      });

      it('is retried after failures that may pass', async () => {
        wire.fail('a', 'transient', 'transient');
        outbox.put('a', 'a1', true);
        const drained = settledAt(outbox.drained(600_000));
        await pass(600_000);
        expect(wire.attempts('a')).toBe(3);
        expect(wire.delivered('a')).toEqual(['a1']);
        expect(drained.at).toBeGreaterThanOrEqual(wire.sends.at(-1)!.end);
        expect(drained.at).toBeLessThan(wire.sends.at(-1)!.end + 100);
      });

      it('is given up after a failure that cannot pass (the message is gone), and nothing waits for it', async () => {
        wire.fail('a', 'permanent');
        outbox.put('a', 'a1', true);
        await pass(600_000);
        expect(wire.attempts('a')).toBe(1);
        const asked = Date.now();
        const drained = settledAt(outbox.drained(600_000));
        await pass(0);
        expect(drained.at).toBe(asked);
      });

      it('a newer final view replaces one still waiting to be retried', async () => {
        wire.fail('a', 'transient');
        outbox.put('a', 'a1', true);
        await pass(1);
        outbox.put('a', 'a2', true);
        await pass(600_000);
        expect(wire.delivered('a')).toEqual(['a2']);
      });
    });

    describe('failure isolation', () => {
      it('a failed send neither throws nor stops later sends, of the same message or of others', async () => {
        wire.fail('a', 'transient');
        expect(() => outbox.put('a', 'a1')).not.toThrow();
        outbox.put('b', 'b1');
        await pass(60_000);
        expect(wire.attempts('a')).toBe(1);
        expect(wire.delivered('b')).toEqual(['b1']);
        outbox.put('a', 'a2');
        outbox.put('b', 'b2', true);
        await pass(60_000);
        expect(wire.delivered('a')).toEqual(['a2']);
        expect(wire.delivered('b')).toEqual(['b1', 'b2']);
      });

      it('a message that is gone does not hold up the others', async () => {
        wire.fail('a', 'permanent', 'permanent');
        outbox.put('a', 'a1');
        outbox.put('b', 'b1');
        await pass(60_000);
        outbox.put('a', 'a2', true);
        outbox.put('b', 'b2', true);
        const drained = settledAt(outbox.drained(600_000));
        await pass(600_000);
        expect(wire.delivered('a')).toEqual([]);
        expect(wire.delivered('b')).toEqual(['b1', 'b2']);
        expect(drained.at).toBeLessThan(1_000_000 + 120_000);
      });
    });

    describe('rate limit', () => {
      it('holds under a steady stream of views to several messages, each of which still ends on its final view', async () => {
        const ids = ['a', 'b', 'c'];
        let queued = 0;
        // A view of each message every 100 ms for 30 s, then each one's final view.
        for (let k = 0; k < 300; k++) {
          for (const id of ids) outbox.put(id, `${id}${k}`);
          queued += ids.length;
          await pass(100);
        }
        for (const id of ids) outbox.put(id, `${id}-final`, true);
        await pass(600_000);

        for (const id of ids) {
          const views = wire.delivered(id);
          expect(views.at(-1)).toBe(`${id}-final`);
          // Never an older view after a newer one.
          const order = views.slice(0, -1).map((v) => Number(v.slice(1)));
          expect(order).toEqual([...order].sort((x, y) => x - y));
          expect(new Set(order).size).toBe(order.length);
        }
        expect(wire.sends.length).toBeLessThan(queued / 4);
        expect(wire.maxInFlight).toBe(1);

        const groups = f.limit.scope === 'all' ? [wire.sends] : ids.map((id) => wire.sends.filter((s) => s.id === id));
        for (const sends of groups) {
          const starts = sends.map((s) => s.start).sort((x, y) => x - y);
          for (let i = 0; i < starts.length; i++) {
            for (let j = i; j < starts.length; j++) {
              const span = starts[j]! - starts[i]!;
              expect(j - i + 1, `sends within ${span} ms`).toBeLessThanOrEqual(f.limit.maxIn(span));
            }
          }
        }
      });
    });

    it('stop() sends nothing more', async () => {
      outbox.put('a', 'a1');
      outbox.stop();
      await pass(60_000);
      expect(wire.sends).toEqual([]);
    });
  });
}
