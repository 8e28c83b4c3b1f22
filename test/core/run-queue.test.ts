import { describe, expect, it } from 'vitest';
import { RunQueue } from '../../src/core/run-queue.js';

/** A queue whose runs end only when the test says so; records the order runs start in. */
function queue(concurrency: number) {
  const started: string[] = [];
  const finish = new Map<string, () => void>();
  const q = new RunQueue(
    concurrency,
    (key) => {
      started.push(key);
      return new Promise<void>((resolve) => finish.set(key, resolve));
    },
    () => {},
  );
  const end = async (key: string) => {
    await new Promise((r) => setImmediate(r));
    finish.get(key)!();
    await new Promise((r) => setImmediate(r));
  };
  return { q, started, end };
}

describe('the research queue is fair between people', () => {
  it("one person's flood does not make another wait behind it", async () => {
    const { q, started, end } = queue(1);
    for (let i = 1; i <= 5; i++) q.add(`a${i}`, 'A');
    q.add('b1', 'B');
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['a1']);
    // B's only run is next, and it is told so.
    expect(q.position('b1')).toBe(1);
    expect(q.waitingKeys()).toEqual(['b1', 'a2', 'a3', 'a4', 'a5']);
    await end('a1');
    await end('b1');
    q.add('c1', 'C');
    expect(q.position('c1')).toBe(1);
    for (const k of ['a2', 'c1', 'a3', 'a4', 'a5']) await end(k);
    expect(started).toEqual(['a1', 'b1', 'a2', 'c1', 'a3', 'a4', 'a5']);
  });

  it('takes the person with the fewest runs going first when slots are shared', async () => {
    const { q, started } = queue(2);
    q.add('a1', 'A');
    q.add('a2', 'A');
    q.add('a3', 'A');
    q.add('b1', 'B');
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['a1', 'a2']);
    expect(q.waitingKeys()).toEqual(['b1', 'a3']);
    expect(q.positionIfAdded('C')).toBe(2);
  });

  it('a thread never has two runs, a cancelled waiting run never starts, and pause forgets the waiting', async () => {
    const { q, started, end } = queue(1);
    expect(q.add('a1', 'A')).toBe(true);
    expect(q.add('a1', 'A')).toBe(false);
    q.add('a2', 'A');
    q.add('a3', 'A');
    q.cancel('a2');
    await end('a1');
    expect(started).toEqual(['a1', 'a3']);
    q.add('a4', 'A');
    q.pause();
    expect(q.size).toEqual({ running: 1, queued: 0 });
    const idle = q.onIdle();
    await end('a3');
    await idle;
    expect(started).toEqual(['a1', 'a3']);
  });
});
