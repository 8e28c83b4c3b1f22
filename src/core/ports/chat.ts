import type { Progress } from '../progress.js';
import type { Report } from '../report.js';
import type { FailureCode, Lang, RunState } from './thread.js';

/** Opaque thread key built by a platform (`slack:T…:C…:<thread_ts>`); the core never parses it. */
export type ThreadKey = string;

/** `further`: take a finished report further on one aspect (asks what to focus on). */
export type ActionName = 'answer' | 'start-now' | 'cancel' | 'retry' | 'further';

interface InboundBase {
  platform: string;
  thread: ThreadKey;
  /** The platform's event or message id: a second delivery of the same id has no effect. */
  eventId: string;
  user: string;
  /** For allow-lists: the channel or chat the thread is in. */
  channel: string;
}

/** A file attached to a message, as the platform can fetch it again later. */
export interface FileRef {
  id: string;
  name: string;
  size: number;
  /** Where the platform downloads it from (with its own credentials). */
  url?: string;
  /** The media type the platform declares (`image/png`), when it declares one: images go to the model as images. */
  mime?: string;
}

export type Inbound =
  | (InboundBase & { kind: 'mention'; text: string; files?: FileRef[] })
  | (InboundBase & { kind: 'reply'; text: string })
  | (InboundBase & {
      kind: 'action';
      action: ActionName;
      text?: string;
      /**
       * The bot's message the button or form is on. When set, the engine finds the thread by it in the store,
       * and `thread` (from the button's value) is only a hint; '' when the callback carried no value.
       */
      messageId?: string;
    })
  /** A message the bot cannot read (image, file, audio, sticker, forward) in a direct chat: answered with a short notice. */
  | (InboundBase & { kind: 'unsupported'; what: string })
  /** The person stopped the bot's streamed message (the platform's own Stop): the run is cancelled. */
  | (InboundBase & { kind: 'stopped' })
  /** A feedback button on a finished report: the person's last click counts. */
  | (InboundBase & { kind: 'feedback'; value: Feedback });

export type Feedback = 'good' | 'bad';

/** Bounds for downloading a person's attachment: declared size and bytes read both checked, within a deadline. */
export interface DownloadLimits {
  maxBytes: number;
  timeoutMs: number;
}

/** Views are data; each platform renders them (Block Kit, card JSON 2.0, terminal). */
export type View =
  | {
      kind: 'clarify';
      lang: Lang;
      topic: string;
      state: RunState;
      failure?: { code: FailureCode; detail?: string; retryable: boolean };
      /** Undefined while step 1 is still running. */
      question?: string;
      /** Buttons and form are shown only while the question is open. */
      open: boolean;
      answer?: string;
    }
  | {
      kind: 'progress';
      lang: Lang;
      topic: string;
      state: RunState;
      progress?: Progress;
      /** Position in the research queue while queued. */
      position?: number;
      failure?: { code: FailureCode; detail?: string; retryable: boolean };
      /** Words in the report, once done. */
      words?: number;
      /** The run's estimated cost so far (`¥1.26`), when the price is known. */
      cost?: string;
      /** Done with a report: offer "Research further". */
      further?: boolean;
      /** Who asked (platform user id): the person a platform addresses the progress to (a Slack stream in a channel). */
      requester?: string;
    }
  /**
   * The answer to a follow-up question, while it is written and once done. `text` is Markdown with the link
   * policy applied and citations already linked to the report's sources; `footer` names the model, tokens and cost.
   */
  | {
      kind: 'followup';
      lang: Lang;
      /** Who asked (platform user id) and what. */
      asker: string;
      question: string;
      state: 'thinking' | 'writing' | 'done' | 'failed';
      text: string;
      footer?: string;
      /** What went wrong and what the person can do, when failed. */
      failure?: string;
    }
  | { kind: 'notice'; lang: Lang; text: string };

/** A platform's API trouble, counted for metrics. */
export class PlatformStats {
  readonly errors = new Map<string, number>();
  rateLimited = 0;
  tokenRefreshes = 0;

  error(code: string | number | undefined): void {
    const key = String(code ?? 'unknown');
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
  }
}

/**
 * Names a message the bot posts, unique within its thread (`clarify:1`, `progress:1`, `report:1:3`): a platform
 * that can find its own messages by it lets a post that went out just before a crash be adopted, not repeated.
 */
export type PostTag = string;

/** One deliverable of a report (a message or card, the references, a file), as the platform renders it. */
export interface ReportPart {
  /** For logs: `report 2/3`, `references`, `file report.md`. */
  readonly label: string;
}

/** A platform's outbound side: the core calls these and nothing else. */
export interface Platform {
  readonly name: string;
  readonly stats?: PlatformStats;
  /** Posts a view in the thread, tagged; returns the id of the posted message. */
  post(thread: ThreadKey, view: View, tag?: PostTag): Promise<string>;
  /**
   * The id of a message this bot posted in the thread with `tag`, when the platform can look it up; undefined
   * when there is none. Asked only when a post may have gone out unrecorded (after a restart).
   */
  findPosted?(thread: ThreadKey, tag: PostTag): Promise<string | undefined>;
  /**
   * Replaces a posted view. The platform coalesces (latest view wins) and keeps within its rate limits;
   * a final view is always delivered. Never rejects: a failed edit must not end the run.
   */
  update(thread: ThreadKey, messageId: string, view: View, final: boolean): Promise<void>;
  /**
   * The report the platform's way, in delivery order: split messages or cards, the references, files. Pure: the
   * same report gives the same parts, so delivery can resume at any part after a restart.
   */
  reportParts(thread: ThreadKey, report: Report, lang: Lang): ReportPart[];
  /**
   * Delivers one part, tagged like a post. Resolves when it is delivered (with the id of the message it posted,
   * where there is one), or when it is optional (a file) and could not be; rejects when a required part could
   * not be delivered.
   */
  postReportPart(thread: ThreadKey, part: ReportPart, tag: PostTag): Promise<string | void>;
  /** A link to one of the bot's messages people can open (the earlier report a new one builds on), when the platform has one. */
  permalink?(thread: ThreadKey, messageId: string): Promise<string | undefined>;
  /**
   * Downloads a file attached to a request, refusing before any byte is read when the declared size is over
   * `limits.maxBytes`, and stopping once more bytes than that arrive or the deadline passes. Rejects with an
   * Error whose message says why, in words a person understands.
   */
  download?(thread: ThreadKey, file: FileRef, limits: DownloadLimits): Promise<Uint8Array>;
  /** A "working" indicator where the platform has one; null clears it. Failures are ignored. */
  setStatus?(thread: ThreadKey, status: string | null): Promise<void>;
}
