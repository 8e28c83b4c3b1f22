import { describe, expect, it } from 'vitest';
import { decodeJobId, encodeJobId, placeIfAdded, priorityFor, PRIORITY_LIMIT, waitingOrder, type QueueSnapshot } from '../../src/store/bullmq-order.js';

describe('BullMQ job ids and order', () => {
  it('encodes thread keys into ids BullMQ accepts (no ":", never an integer) and back', () => {
    for (const key of ['slack:T1:C1:1700000000.000100', 'feishu:oc_1:om_2', '123', '%3A', 'a%25:b%', '', 'tt', '::']) {
      const id = encodeJobId(key);
      expect(id).not.toContain(':');
      expect(`${parseInt(id, 10)}`).not.toBe(id);
      expect(decodeJobId(id)).toBe(key);
    }
    expect(new Set(['a:b', 'a%3Ab', 'a%253Ab'].map(encodeJobId)).size).toBe(3);
  });

  const run = (key: string, user: string, priority: number) => ({ key, user, priority });
  const snap: QueueSnapshot = {
    front: [run('back', 'u9', 0)],
    prioritized: [run('a2', 'a', 2), run('b1', 'b', 1), run('a3', 'a', 3)].sort((x, y) => x.priority - y.priority),
    active: [run('a1', 'a', 1)],
  };

  it('gives a person’s next run one more than the runs they have, never ahead of their own waiting runs', () => {
    expect(priorityFor('c', snap)).toBe(1);
    expect(priorityFor('b', snap)).toBe(2);
    expect(priorityFor('a', snap)).toBe(4);
    // Earlier runs finished, a late one still waiting at 7: the next one goes after it.
    expect(priorityFor('d', { front: [], prioritized: [run('d7', 'd', 7)], active: [] })).toBe(8);
    const many = Array.from({ length: 5 }, (_, i) => run(`x${i}`, 'x', PRIORITY_LIMIT));
    expect(priorityFor('x', { front: [], prioritized: many, active: [] })).toBe(PRIORITY_LIMIT);
  });

  it('orders the runs put back in front first, then by priority; a new run goes after those of its priority', () => {
    expect(waitingOrder(snap).map((r) => r.key)).toEqual(['back', 'b1', 'a2', 'a3']);
    expect(placeIfAdded('c', snap, 5)).toBe(3);
    expect(placeIfAdded('a', snap, 5)).toBe(5);
    expect(placeIfAdded('c', { front: [], prioritized: [], active: [run('a1', 'a', 1)] }, 2)).toBeUndefined();
    expect(placeIfAdded('c', { front: [], prioritized: [], active: [run('a1', 'a', 1)] }, 1)).toBe(1);
  });
});
