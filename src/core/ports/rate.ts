/**
 * A rate budget shared by every process of a deployment (a token bucket in Redis), so that several processes
 * together stay inside a platform's limits. Without a cluster there is none: each platform's own buckets suffice.
 */
export interface SharedRate {
  /**
   * Takes one token from `bucket` (refilled at `perMinute`, holding at most `burst`): resolves with 0 when taken,
   * or with the milliseconds until one will be there (nothing taken). Rejects when the shared store is unreachable.
   */
  take(bucket: string, perMinute: number, burst: number): Promise<number>;
  /**
   * The platform answered 429 for `bucket`: no process takes from it for `ms` (the Retry-After), and it refills from
   * empty after that, as a process's own bucket does. Rejects when the shared store is unreachable.
   */
  pause?(bucket: string, ms: number): Promise<void>;
}
