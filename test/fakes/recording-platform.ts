import type { Report } from '../../src/core/report.js';
import type { Lang } from '../../src/core/i18n.js';
import type { FileRef, Platform, ReportPart, ThreadKey, View } from '../../src/core/ports/chat.js';

export interface RecordedMessage {
  id: string;
  thread: ThreadKey;
  /** Every version of the message: the posted view, then each update. */
  views: View[];
  tag?: string;
}

/** A platform that records what the core shows, so tests can drive whole conversations. */
export class RecordingPlatform implements Platform {
  readonly messages: RecordedMessage[] = [];
  readonly reports: { thread: ThreadKey; report: Report; lang: Lang; id: string }[] = [];
  readonly statuses: { thread: ThreadKey; status: string | null }[] = [];
  /** Contents of attached files, by file id. */
  readonly attachments = new Map<string, Uint8Array>();
  private next = 1;

  constructor(readonly name = 'test') {}

  async post(thread: ThreadKey, view: View, tag?: string): Promise<string> {
    const id = `m${this.next++}`;
    this.messages.push({ id, thread, views: [view], tag });
    return id;
  }

  async findPosted(thread: ThreadKey, tag: string): Promise<string | undefined> {
    return this.messages.find((m) => m.thread === thread && m.tag === tag)?.id;
  }

  async permalink(_thread: ThreadKey, messageId: string): Promise<string | undefined> {
    return `https://chat.example/messages/${messageId}`;
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

  async postReportPart(thread: ThreadKey, part: ReportPart, _tag?: string): Promise<string> {
    const { report, lang } = part as ReportPart & { report: Report; lang: Lang };
    const id = `r${this.next++}`;
    this.reports.push({ thread, report, lang, id });
    return id;
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

  /** The latest view of every follow-up answer in a thread, in the order asked. */
  followups(thread: ThreadKey): Extract<View, { kind: 'followup' }>[] {
    return this.latest(thread, 'followup') as Extract<View, { kind: 'followup' }>[];
  }

  clarify(thread: ThreadKey): Extract<View, { kind: 'clarify' }> | undefined {
    return this.latest(thread, 'clarify').at(-1) as Extract<View, { kind: 'clarify' }> | undefined;
  }
}
