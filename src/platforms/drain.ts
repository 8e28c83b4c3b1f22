/** Callers waiting until an outbox has nothing left to send (the Slack editor, the Feishu patcher). */
export class Drain {
  private readonly waiters: (() => void)[] = [];

  /** Resolves at once when `idle`, otherwise at the next `settled()` or after `timeoutMs`. */
  wait(idle: boolean, timeoutMs: number): Promise<void> {
    if (idle) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** The outbox is empty: everyone waiting goes on. */
  settled(): void {
    for (const resolve of this.waiters.splice(0)) resolve();
  }
}
