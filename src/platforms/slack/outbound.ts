import type { WebClient } from '@slack/web-api';
import type { Lang } from '../../core/i18n.js';
import type { Logger } from '../../core/ports/logger.js';
import type { Report } from '../../core/report.js';
import { PlatformStats, type DownloadLimits, type FileRef, type Inbound, type Platform, type PostTag, type ReportPart, type ThreadKey, type View } from '../../core/ports/chat.js';
import { renderHeader, renderView } from './blocks.js';
import { downloadFile } from './download.js';
import type { SlackEditor } from './editor.js';
import { parseThreadKey } from './thread-key.js';
import { slackFailure } from './errors.js';
import { reportParts, type SlackReportPart } from './report-parts.js';
import { POST_EVENT, postMetadata, SlackReportDelivery } from './report-delivery.js';
import { SlackCanvases } from './canvas.js';
import type { RunStream } from './run-stream.js';
import { SlackStreams } from './streams.js';
import { ThreadStatus } from './thread-status.js';
import { untaggedBotMessages } from './stale-streams.js';

/** Requesters remembered per thread, for the stream's recipient; the oldest are forgotten beyond this. */
const REQUESTERS_KEPT = 10_000;

export class SlackPlatform implements Platform {
  readonly name = 'slack';
  /** What each edited message last showed, so that a change of phase or state goes to the front. */
  private readonly shown = new Map<string, string>();
  private readonly status: ThreadStatus;
  /** Who asked in each thread (from the mention), as the recipient Slack requires for a stream in a channel. */
  private readonly requesters = new Map<ThreadKey, string>();
  readonly streams: SlackStreams;
  /** The report published as a canvas, where the workspace allows it. */
  readonly canvases: SlackCanvases;
  /** Events the platform notices itself (the stream's Stop), handed to the core like any inbound event. */
  onInbound: ((inbound: Inbound) => void) | undefined;
  /** Threads where "Research further" was pressed: their next run streams only the report's own text (see `noteFurther`). */
  private readonly furtherRounds = new Set<ThreadKey>();
  private readonly reports: SlackReportDelivery;
  /** Streams a process before this one may have left open in a thread, found while looking for its progress post. */
  private readonly staleBefore = new Map<ThreadKey, string[]>();
  /** Permalinks already asked for, by `channel:ts`. */
  private readonly permalinks = new Map<string, string>();

  constructor(
    private readonly web: WebClient,
    private readonly editor: SlackEditor,
    /** A client that rejects rate-limited calls, for calls that may fail quietly. */
    quiet: WebClient,
    private readonly log: Logger,
    /** Hosts that serve attached files: files.slack.com, and the API host (a fake in tests). */
    private readonly fileHosts: string[] = ['files.slack.com'],
    readonly stats = new PlatformStats(),
    streams?: SlackStreams,
  ) {
    this.status = new ThreadStatus(quiet, log);
    this.canvases = new SlackCanvases(web, quiet, log, stats, (thread) => this.requesters.get(thread));
    this.streams = streams ?? new SlackStreams(quiet, log, stats);
    this.streams.onStopped = (run) => {
      const { channel } = parseThreadKey(run.thread);
      this.onInbound?.({ platform: 'slack', kind: 'stopped', thread: run.thread, eventId: `stopped:${run.id}`, user: run.recipient ?? '', channel });
    };
    this.streams.onDegraded = (run) => this.degrade(run);
    this.reports = new SlackReportDelivery(web, log, stats, this.streams, this.canvases);
    this.streams.onPlaceholderFree = (run) => {
      const view = run.latestView;
      this.edit(run.thread, run.placeholder!, view, view.state !== 'researching' && view.state !== 'queued');
    };
    this.streams.onOpened = (run) => {
      // The stream took over: the placeholder stays as the run's header, pointing at it. Not urgent: the run's progress
      // shows in its stream already, and runs still shown in their placeholders must not wait behind it.
      if (run.placeholder) this.editor.edit(parseThreadKey(run.thread).channel, run.placeholder, renderHeader(run.latestView), { urgent: false, final: true });
    };
  }

  /** The person who asked in a thread: the recipient of its streamed progress. The latest request wins, unless a stream is live there. */
  noteRequester(thread: ThreadKey, user: string): void {
    const live = this.streams.ofThread(thread);
    if (live && !live.idle && this.requesters.has(thread)) return;
    this.requesters.delete(thread);
    this.requesters.set(thread, user);
    if (this.requesters.size > REQUESTERS_KEPT) this.requesters.delete(this.requesters.keys().next().value!);
  }

  /**
   * "Research further" was pressed in the thread: the person who pressed it owns the next round (and receives its
   * stream), and that round's report opens with a line linking the earlier report, which its draft does not have. So
   * its stream shows the report's text only as the report is delivered, with that line first, instead of the draft
   * as it is written (which would leave no room above it).
   */
  noteFurther(thread: ThreadKey, user: string): void {
    this.noteRequester(thread, user);
    this.furtherRounds.delete(thread);
    this.furtherRounds.add(thread);
    if (this.furtherRounds.size > REQUESTERS_KEPT) this.furtherRounds.delete(this.furtherRounds.values().next().value!);
  }

  async post(thread: ThreadKey, view: View, tag?: PostTag): Promise<string> {
    // Progress is a streamed message where the workspace can stream and the requester is known; else an edited one.
    if (view.kind === 'progress') {
      // A new progress message: a stream of an earlier round in this thread has nothing to do with its report.
      this.streams.forget(thread);
      const further = this.furtherRounds.delete(thread);
      const stale = this.staleBefore.get(thread) ?? [];
      this.staleBefore.delete(thread);
      const ts = await this.openStream(thread, view, tag, stale);
      const run = ts ? this.streams.get(ts) : undefined;
      if (run && further) run.text.reportOnly = true;
      if (ts) return ts;
    }
    return this.postView(thread, view, tag);
  }

  private async postView(thread: ThreadKey, view: View, tag?: PostTag): Promise<string> {
    const { channel, threadTs } = parseThreadKey(thread);
    const msg = renderView(view, thread);
    const res = await this.web.chat
      .postMessage({ channel, thread_ts: threadTs, ...msg, unfurl_links: false, unfurl_media: false, ...postMetadata(tag) })
      .catch((err: unknown) => {
        this.stats.error(slackFailure(err).code);
        throw err;
      });
    const ts = res.ts ?? '';
    this.shown.set(ts, signature(view));
    return ts;
  }

  /**
   * The bot's message in the thread carrying `tag` in its metadata (conversations.replies, with the history scopes).
   * A progress message not found may have been a stream, which carries no metadata: the bot's untagged messages in
   * the thread are then ended as streams left open before the post that follows.
   */
  async findPosted(thread: ThreadKey, tag: PostTag): Promise<string | undefined> {
    const found = await this.findTagged(thread, tag);
    if (!found && tag.startsWith('progress:') && this.streams.available(parseThreadKey(thread).team)) {
      this.staleBefore.set(thread, await untaggedBotMessages(this.web, this.log, thread));
      // Taken by the post that follows; should none follow, the oldest are forgotten.
      if (this.staleBefore.size > REQUESTERS_KEPT) this.staleBefore.delete(this.staleBefore.keys().next().value!);
    }
    return found;
  }

  private async findTagged(thread: ThreadKey, tag: PostTag): Promise<string | undefined> {
    const { channel, threadTs } = parseThreadKey(thread);
    for (let cursor: string | undefined; ; ) {
      const res = await this.web.conversations.replies({ channel, ts: threadTs, include_all_metadata: true, limit: 200, cursor });
      const found = res.messages?.find((m) => {
        const meta = (m as { metadata?: { event_type?: string; event_payload?: { tag?: string } } }).metadata;
        return meta?.event_type === POST_EVENT && meta.event_payload?.tag === tag;
      });
      if (found?.ts) return found.ts;
      cursor = res.response_metadata?.next_cursor || undefined;
      if (!cursor) return undefined;
    }
  }

  async update(thread: ThreadKey, messageId: string, view: View, final: boolean): Promise<void> {
    this.status.notePhase(thread, view);
    const run = view.kind === 'progress' ? (this.streams.get(messageId) ?? this.resume(thread, messageId, view)) : undefined;
    if (run?.state === 'degraded') {
      const ts = await run.fallbackTs;
      if (ts) this.edit(thread, ts, view, final);
      return;
    }
    // Until its stream opens, a run with a placeholder shows its progress there (once it is no stream left open).
    if (run?.placeholder && run.state === 'opening' && !run.stale.includes(run.placeholder)) this.edit(thread, run.placeholder, view, final);
    if (run && view.kind === 'progress') return this.streams.update(run, view, final);
    this.edit(thread, messageId, view, final);
  }

  private edit(thread: ThreadKey, messageId: string, view: View, final: boolean): void {
    const { channel } = parseThreadKey(thread);
    const sig = signature(view);
    const urgent = this.shown.get(messageId) !== sig;
    this.shown.set(messageId, sig);
    if (final) this.shown.delete(messageId);
    this.editor.edit(channel, messageId, renderView(view, thread), { urgent, final });
  }

  reportParts(_thread: ThreadKey, report: Report, lang: Lang): SlackReportPart[] {
    return reportParts(report, lang);
  }

  /** Delivers one part of the report; the ts of the message that shows it (the first, when it takes several). */
  postReportPart(thread: ThreadKey, reportPart: ReportPart, tag: PostTag): Promise<string | undefined> {
    return this.reports.post(thread, reportPart as SlackReportPart, tag);
  }

  /**
   * A link people can open to one of the bot's messages (chat.getPermalink); undefined when Slack gives none. A
   * message's link never changes, so each is asked once (the core builds the report, and asks, for every part).
   */
  async permalink(thread: ThreadKey, messageId: string): Promise<string | undefined> {
    const { channel } = parseThreadKey(thread);
    const key = `${channel}:${messageId}`;
    const known = this.permalinks.get(key);
    if (known) return known;
    try {
      const res = await this.web.chat.getPermalink({ channel, message_ts: messageId });
      if (res.permalink) {
        this.permalinks.set(key, res.permalink);
        if (this.permalinks.size > REQUESTERS_KEPT) this.permalinks.delete(this.permalinks.keys().next().value!);
      }
      return res.permalink || undefined;
    } catch (err) {
      this.stats.error(slackFailure(err).code);
      this.log.warn({ err: slackFailure(err).code, thread }, 'no permalink for a message');
      return undefined;
    }
  }

  download(_thread: ThreadKey, file: FileRef, limits: DownloadLimits): Promise<Uint8Array> {
    return downloadFile(file, limits, this.fileHosts, this.web.token);
  }

  setStatus(thread: ThreadKey, status: string | null): Promise<void> {
    return this.status.set(thread, status);
  }

  stop(): void {
    this.status.stop();
    this.streams.stop();
  }

  /**
   * Opens the run's streamed progress message; undefined when the workspace cannot stream or the requester is unknown.
   * When no stream can be opened at once (Slack allows about 20 starts a minute, and only so many streams can be kept
   * moving within the append budget), today's message is posted now and edited, and the stream opens as soon as the
   * budgets allow: people see the progress at once, and the run starts at once.
   */
  private async openStream(thread: ThreadKey, view: Extract<View, { kind: 'progress' }>, tag: PostTag | undefined, stale: string[]): Promise<string | undefined> {
    const { team, channel } = parseThreadKey(thread);
    // In a direct message the requester is the person the bot talks to; in a channel Slack requires the recipient.
    const recipient = this.requesters.get(thread) ?? view.requester;
    if (!this.streams.available(team) || !recipient || !channel) return undefined;
    // Streams left open before a restart are ended first: meanwhile the progress shows in a posted message.
    if (stale.length === 0 && this.streams.canOpenNow(team)) return this.streams.open(thread, view, recipient);
    const placeholder = await this.postView(thread, view, tag);
    this.streams.openLater(thread, view, recipient, placeholder, stale);
    return placeholder;
  }

  /**
   * A progress message this process did not post: the core's, from before a restart. In a workspace that streams, it
   * and the messages after it may be streams still open, which nothing but their stream can change: they are ended
   * ("continued below"), and the run goes on with the message as its placeholder, its stream opening below. Undefined
   * when the run cannot stream (the message is edited as before).
   */
  private resume(thread: ThreadKey, messageId: string, view: Extract<View, { kind: 'progress' }>): RunStream | undefined {
    const recipient = this.requesters.get(thread) ?? view.requester;
    if (this.shown.has(messageId) || !this.streams.available(parseThreadKey(thread).team) || !recipient) return undefined;
    this.noteRequester(thread, recipient);
    const run = this.streams.openLater(thread, view, recipient, messageId, [messageId]);
    // The later messages of a rolled-over run may still stream too: ended once found (not waited for here).
    void untaggedBotMessages(this.web, this.log, thread, messageId).then((after) => this.streams.addStale(run, after));
    return run;
  }

  /** Streaming stopped working for a run: its progress goes on in a posted message, edited as before. */
  private degrade(run: RunStream): void {
    const { channel, threadTs } = parseThreadKey(run.thread);
    const view = run.latestView;
    if (run.placeholder) {
      // The placeholder is there: it shows the progress again, edited from now on.
      run.fallbackTs = Promise.resolve(run.placeholder);
      this.edit(run.thread, run.placeholder, view, view.state !== 'researching' && view.state !== 'queued');
      return;
    }
    run.fallbackTs = this.web.chat
      .postMessage({ channel, thread_ts: threadTs, ...renderView(view, run.thread), unfurl_links: false, unfurl_media: false })
      .then((res) => {
        this.shown.set(res.ts ?? '', signature(view));
        return res.ts;
      })
      .catch((err: unknown) => {
        this.stats.error(slackFailure(err).code);
        return undefined;
      });
  }
}

function signature(view: View): string {
  if (view.kind === 'clarify') return `clarify:${view.state}:${view.open}`;
  if (view.kind === 'followup') return `followup:${view.state}`;
  if (view.kind !== 'progress') return `${view.kind}:`;
  return `${view.state}:${view.progress?.phase ?? ''}:${view.progress?.rounds.length ?? 0}:${view.position ?? ''}`;
}

