import type { Report } from '../../src/core/report.js';
import type { Lang } from '../../src/core/i18n.js';
import type { FileRef, Platform, ReportPart, ThreadKey, View } from '../../src/core/ports/chat.js';

export interface RecordedMessage {
  id: string;
  thread: ThreadKey;
  /** Every version of the message: the posted view, then each update. */
  views: View[];
}

/** A platform that records what the core shows, so tests can drive whole conversations. */
export class RecordingPlatform implements Platform {
  readonly messages: RecordedMessage[] = [];
  readonly reports: { thread: ThreadKey; report: Report; lang: Lang }[] = [];
  readonly statuses: { thread: ThreadKey; status: string | null }[] = [];
  /** Contents of attached files, by file id. */
  readonly attachments = new Map<string, Uint8Array>();
  private next = 1;

  constructor(readonly name = 'test') {}

  async post(thread: ThreadKey, view: View): Promise<string> {
    const id = `m${this.next++}`;
    this.messages.push({ id, thread, views: [view] });
    return id;
  }

  async update(thread: ThreadKey, messageId: string, view: View): Promise<void> {
    const msg = this.messages.find((m) => m.id === messageId && m.thread === thread);
    if (!msg) throw new Error(`update of unknown message ${messageId}`);
    msg.views.push(view);
  }

  /** One part: the whole report, recorded as it is delivered. */
  reportParts(_thread: ThreadKey, report: Report, lang: Lang): (ReportPart & { report: Report; lang: Lang })[] {
    return [{ label: 'report', report, lang }];
  }

  async postReportPart(thread: ThreadKey, part: ReportPart, _tag?: string): Promise<void> {
    const { report, lang } = part as ReportPart & { report: Report; lang: Lang };
    this.reports.push({ thread, report, lang });
  }

  async download(_thread: ThreadKey, file: FileRef): Promise<Uint8Array> {
    const data = this.attachments.get(file.id);
    if (!data) throw new Error(`no file ${file.id}`);
    return data;
  }

  async setStatus(thread: ThreadKey, status: string | null): Promise<void> {
    this.statuses.push({ thread, status });
  }

  inThread(thread: ThreadKey): RecordedMessage[] {
    return this.messages.filter((m) => m.thread === thread);
  }

  /** The latest view of each message of one kind in a thread. */
  latest(thread: ThreadKey, kind: View['kind']): View[] {
    return this.inThread(thread)
      .map((m) => m.views.at(-1)!)
      .filter((v) => v.kind === kind);
  }

  notices(thread: ThreadKey): string[] {
    return this.latest(thread, 'notice').map((v) => (v.kind === 'notice' ? v.text : ''));
  }

  progress(thread: ThreadKey): Extract<View, { kind: 'progress' }> | undefined {
    return this.latest(thread, 'progress').at(-1) as Extract<View, { kind: 'progress' }> | undefined;
  }

  clarify(thread: ThreadKey): Extract<View, { kind: 'clarify' }> | undefined {
    return this.latest(thread, 'clarify').at(-1) as Extract<View, { kind: 'clarify' }> | undefined;
  }
}
