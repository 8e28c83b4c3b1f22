/**
 * Cancels of running research jobs, told to every process of the cluster on a pub/sub channel. A message names
 * one job instance, its id and its creation time, so a later run of the same thread is not hit by an old cancel.
 * Each cancel is remembered for a minute: a job taken at the very instant of the cancel (its processor not yet
 * started here) is still aborted when it starts.
 */
export interface Cancel {
  id: string;
  ts: number;
}

const MEMORY_MS = 60_000;

export class Cancels {
  private readonly recent = new Map<string, { ts: number; until: number }>();

  static message(cancel: Cancel): string {
    return JSON.stringify({ id: cancel.id, ts: cancel.ts });
  }

  /** Records a cancel message; undefined when it is not one. */
  heard(message: string, now = Date.now()): Cancel | undefined {
    let cancel: Cancel;
    try {
      cancel = JSON.parse(message) as Cancel;
    } catch {
      return undefined;
    }
    if (typeof cancel?.id !== 'string' || typeof cancel.ts !== 'number') return undefined;
    for (const [id, c] of this.recent) if (c.until < now) this.recent.delete(id);
    this.recent.set(cancel.id, { ts: cancel.ts, until: now + MEMORY_MS });
    return cancel;
  }

  /** Whether this job instance was cancelled within the last minute. */
  has(id: string, ts: number, now = Date.now()): boolean {
    const c = this.recent.get(id);
    return !!c && c.ts === ts && c.until >= now;
  }
}
