import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/core/ports/logger.js';
import { persistently, StoreWriteError } from '../../src/core/store-guard.js';

afterEach(() => vi.useRealTimers());

describe('storing how a paid run ended', () => {
  it('retries while the store is unreachable and stores the end once it is back', async () => {
    vi.useFakeTimers();
    let calls = 0;
    const write = async () => {
      if (++calls <= 3) throw new StoreWriteError('save thread', new Error('Connection is closed.'));
      return 'saved';
    };
    const done = persistently(write, silentLogger, 't', () => false);
    await vi.advanceTimersByTimeAsync(1000 + 2000 + 5000);
    await done;
    expect(calls).toBe(4);
  });

  it('does not retry other errors, nor once the process is stopping', async () => {
    await expect(persistently(async () => Promise.reject(new Error('bug')), silentLogger, 't', () => false)).rejects.toThrow('bug');
    let calls = 0;
    const failing = async () => {
      calls++;
      throw new StoreWriteError('save thread', new Error('down'));
    };
    await expect(persistently(failing, silentLogger, 't', () => true)).rejects.toBeInstanceOf(StoreWriteError);
    expect(calls).toBe(1);
  });
});
