import type { WebClient } from '@slack/web-api';
import { strings } from '../../core/i18n.js';
import type { ThreadKey, View } from '../../core/ports/chat.js';
import type { Logger } from '../../core/ports/logger.js';
import { slackFailure } from './errors.js';
import { parseThreadKey } from './thread-key.js';

/** assistant.threads.setStatus lapses after two minutes without a message. */
const STATUS_REFRESH_MS = 90_000;

/** Each thread's "working" status, kept alive with the phase its progress is in. */
export class ThreadStatus {
  private readonly timers = new Map<ThreadKey, NodeJS.Timeout>();
  /** The status the core set, and the phase the thread's progress is in, for the status kept alive. */
  private readonly statuses = new Map<ThreadKey, { status: string; phase?: string; lang?: View['lang'] }>();

  constructor(
    /** A client that rejects rate-limited calls: the status may fail quietly. */
    private readonly quiet: WebClient,
    private readonly log: Logger,
  ) {}

  /** The thread's "working" status; Slack drops it after two minutes without a message, so it is sent again with the current phase. */
  async set(thread: ThreadKey, status: string | null): Promise<void> {
    clearInterval(this.timers.get(thread));
    this.timers.delete(thread);
    if (!status) {
      this.statuses.delete(thread);
      return this.send(thread, '');
    }
    this.statuses.set(thread, { ...this.statuses.get(thread), status });
    await this.send(thread, this.text(thread));
    const timer = setInterval(() => void this.send(thread, this.text(thread)), STATUS_REFRESH_MS);
    timer.unref();
    this.timers.set(thread, timer);
  }

  /**
   * A progress view's phase, which the status says when it is next sent to keep it alive. (Not sent on every change:
   * assistant.threads.setStatus has Slack's "special" limit, not documented, and the progress itself shows the phase.)
   */
  notePhase(thread: ThreadKey, view: View): void {
    if (view.kind !== 'progress' || view.state !== 'researching' || !view.progress) return;
    const s = this.statuses.get(thread);
    if (s && s.phase !== view.progress.phase) this.statuses.set(thread, { ...s, phase: view.progress.phase, lang: view.lang });
  }

  stop(): void {
    for (const t of this.timers.values()) clearInterval(t);
    this.timers.clear();
  }

  private text(thread: ThreadKey): string {
    const s = this.statuses.get(thread);
    if (!s) return '';
    return (s.phase && s.lang && strings(s.lang).statusPhase[s.phase]) || s.status;
  }

  private send(thread: ThreadKey, status: string): Promise<void> {
    const { channel, threadTs } = parseThreadKey(thread);
    return this.quiet.assistant.threads
      .setStatus({ channel_id: channel, thread_ts: threadTs, status })
      .then(() => undefined)
      .catch((err: unknown) => this.log.debug({ err: slackFailure(err).code }, 'setStatus not available'));
  }
}
