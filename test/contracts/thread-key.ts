import { describe, expect, it } from 'vitest';

/**
 * The thread-key contract: the core stores and compares thread keys as opaque strings and routes them by the
 * platform name they start with; only the platform that made a key reads it back. Each platform's codec
 * (src/platforms/<platform>/thread-key.ts) keeps it.
 */
export interface ThreadKeyCodec<T extends { [K in keyof T]: string }> {
  /** The platform's name, as its Inbound events and its Platform carry it. */
  platform: string;
  encode(thread: T): string;
  decode(key: string): T;
  /** Threads as the platform's events name them. */
  samples: T[];
  /** Threads whose ids carry unusual characters the platform's ids may hold (dots, dashes, underscores, long, non-ASCII). */
  unusual: T[];
  /** An inbound event as the platform maps it, and the thread it happened in. */
  inbound?: { platform: string; thread: string; in: T }[];
}

export function threadKeyContract<T extends { [K in keyof T]: string }>(c: ThreadKeyCodec<T>): void {
  describe(`${c.platform} thread keys keep the thread-key contract`, () => {
    const all = [...c.samples, ...c.unusual];

    it('round-trip: decoding a key gives back the thread it was made from', () => {
      for (const t of all) expect(c.decode(c.encode(t))).toEqual(t);
    });

    it('encoding is stable: the same thread gives the same key', () => {
      for (const t of all) expect(c.encode({ ...t })).toBe(c.encode(t));
    });

    it(`every key starts with the platform name and a colon ("${c.platform}:")`, () => {
      for (const t of all) expect(c.encode(t).startsWith(`${c.platform}:`)).toBe(true);
    });

    it('distinct threads give distinct keys, down to a single field', () => {
      const keys = new Map<string, T>();
      for (const t of all) {
        const key = c.encode(t);
        if (keys.has(key)) expect(keys.get(key)).toEqual(t);
        keys.set(key, t);
        for (const field of Object.keys(t) as (keyof T & string)[]) {
          for (const other of [`${t[field]}x`, `x${t[field]}`, t[field].slice(0, -1)]) {
            if (other === t[field]) continue;
            expect(c.encode({ ...t, [field]: other }), `${field}: ${other}`).not.toBe(key);
          }
        }
      }
      expect(new Set(all.map((t) => JSON.stringify(t))).size).toBe(keys.size);
    });

    it('ids with unusual characters round-trip unchanged', () => {
      expect(c.unusual.length).toBeGreaterThan(0);
      for (const t of c.unusual) {
        const key = c.encode(t);
        expect(c.decode(key), key).toEqual(t);
      }
    });

    if (c.inbound) {
      it('the key of an inbound event names its platform and decodes to the thread the event happened in', () => {
        expect(c.inbound!.length).toBeGreaterThan(0);
        for (const e of c.inbound!) {
          expect(e.platform).toBe(c.platform);
          expect(e.thread.startsWith(`${c.platform}:`)).toBe(true);
          expect(c.decode(e.thread)).toEqual(e.in);
        }
      });
    }
  });
}
