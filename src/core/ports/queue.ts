import type { ThreadKey } from './chat.js';

type Maybe<T> = T | Promise<T>;

/** Runs a thread's research; the signal aborts it (cancelled by the person, or the process is stopping). */
export type Execute = (key: ThreadKey, signal: AbortSignal) => Promise<void>;

/**
 * Where research runs wait for a slot and are run: in this process (RunQueue, the default) or across a cluster
 * (BullMQ on Redis). A thread never has two runs waiting or running at once, wherever they are.
 */
export interface ResearchQueue {
  /** Several processes share this queue (a cluster): another one may be running what this one sees. */
  readonly shared?: boolean;
  /** Runs waiting and running in this process (for /metrics and /healthz). */
  readonly size: { running: number; queued: number };
  /** Adds a run for the thread unless it already has one waiting or running. */
  add(key: ThreadKey, user: string): Maybe<unknown>;
  /** Takes a waiting run out of the queue, or aborts it wherever it is running. */
  cancel(key: ThreadKey): Maybe<void>;
  /** Whether the thread has a run waiting or running anywhere (so recovery leaves it alone). */
  has(key: ThreadKey): Maybe<boolean>;
  /** 1-based place among the waiting runs in the order they will start; undefined when not waiting. */
  position(key: ThreadKey): Maybe<number | undefined>;
  /** The place a run added now by `user` would take, or undefined when it would start at once. */
  positionIfAdded(user: string): Maybe<number | undefined>;
  /** Keys of the waiting runs, in the order they will start. */
  waitingKeys(): Maybe<ThreadKey[]>;
  /** Starts taking runs (a shared queue waits for this, so a process that fails start-up takes none). */
  start?(): Promise<void>;
  /** Stops taking runs in this process at once (waiting ones stay for others, or in the store for recovery). */
  pause(): Maybe<void>;
  /**
   * Stops this process's running research: each is left to be run again (a single re-run, announced) — by
   * recovery at the next start here, or by another process of the cluster at once.
   */
  abortAll(): Maybe<void>;
  /** Resolves when nothing runs here any more (waiting runs do not count once paused). */
  onIdle(): Promise<void>;
  close?(): Promise<void>;
}

/** Makes the queue the engine runs its research through: `concurrency` slots, `execute` runs one. */
export type QueueFactory = (concurrency: number, execute: Execute, onError: (key: ThreadKey, err: unknown) => void) => ResearchQueue;

/** One thread handled by one piece of work at a time, in this process or across a cluster. */
export interface ThreadLock {
  /** Rejects with an error whose `code` is `ELOCKTIMEOUT` when the lock cannot be had in time (f never runs). */
  run<T>(key: ThreadKey, f: () => Promise<T>): Promise<T>;
  /** Resolves when all the work queued so far here has settled. */
  settled(): Promise<void>;
}
