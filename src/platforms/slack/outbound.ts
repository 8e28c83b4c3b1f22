import type { WebClient } from '@slack/web-api';
import type { Lang } from '../../core/i18n.js';
import type { Logger } from '../../core/ports/logger.js';
import { splitMarkdown } from '../../common/markdown.js';
import { reportFiles, type Report } from '../../core/report.js';
import { boundedDownload, DownloadError, formatBytes } from '../../common/download.js';
import { PlatformStats, type DownloadLimits, type FileRef, type Platform, type PostTag, type ReportPart, type ThreadKey, type View } from '../../core/ports/chat.js';
import { renderView } from './blocks.js';
import type { SlackEditor } from './editor.js';
import { clip } from '../../core/progress-text.js';
import { escapeMrkdwn, escapePlain, neutraliseMarkdown } from './escape.js';
import { parseThreadKey } from './thread-key.js';
import { slackFailure } from './errors.js';

/** Markdown per message: Slack allows 12,000 characters across a message's markdown blocks. */
export const REPORT_PART_MAX = 11_000;
/** assistant.threads.setStatus lapses after two minutes without a message. */
const STATUS_REFRESH_MS = 90_000;
/** Message metadata naming the bot's own posts, so one that went out just before a crash can be found again. */
const POST_EVENT = 'drb_post';

type SlackReportPart = ReportPart &
  ({ kind: 'markdown'; markdown: string; fallback: string } | { kind: 'file'; name: string; title: string; content: string; markdown: boolean });

export class SlackPlatform implements Platform {
  readonly name = 'slack';
  /** What each edited message last showed, so that a change of phase or state goes to the front. */
  private readonly shown = new Map<string, string>();
  private readonly statusTimers = new Map<ThreadKey, NodeJS.Timeout>();

  constructor(
    private readonly web: WebClient,
    private readonly editor: SlackEditor,
    /** A client that rejects rate-limited calls, for calls that may fail quietly. */
    private readonly quiet: WebClient,
    private readonly log: Logger,
    /** Hosts that serve attached files: files.slack.com, and the API host (a fake in tests). */
    private readonly fileHosts: string[] = ['files.slack.com'],
    readonly stats = new PlatformStats(),
  ) {}

  async post(thread: ThreadKey, view: View, tag?: PostTag): Promise<string> {
    const { channel, threadTs } = parseThreadKey(thread);
    const msg = renderView(view, thread);
    const res = await this.web.chat
      .postMessage({ channel, thread_ts: threadTs, ...msg, unfurl_links: false, unfurl_media: false, ...metadata(tag) })
      .catch((err: unknown) => {
        this.stats.error(slackFailure(err).code);
        throw err;
      });
    const ts = res.ts ?? '';
    this.shown.set(ts, signature(view));
    return ts;
  }

  /** The bot's message in the thread carrying `tag` in its metadata (conversations.replies, with the history scopes). */
  async findPosted(thread: ThreadKey, tag: PostTag): Promise<string | undefined> {
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
    const { channel } = parseThreadKey(thread);
    const sig = signature(view);
    const urgent = this.shown.get(messageId) !== sig;
    this.shown.set(messageId, sig);
    if (final) this.shown.delete(messageId);
    this.editor.edit(channel, messageId, renderView(view, thread), { urgent, final });
  }

  /** The report as Markdown messages (split at headings and paragraphs), the references, then the files. */
  reportParts(_thread: ThreadKey, report: Report, _lang: Lang): SlackReportPart[] {
    const body = splitMarkdown(neutraliseMarkdown(report.body), REPORT_PART_MAX);
    const refs = splitMarkdown(neutraliseMarkdown(report.referencesMarkdown), REPORT_PART_MAX);
    return [
      ...body.map((markdown, i) => ({
        kind: 'markdown' as const,
        label: `report ${i + 1}/${body.length}`,
        markdown,
        fallback: body.length > 1 ? `${report.title} (${i + 1}/${body.length})` : report.title,
      })),
      ...refs.map((markdown) => ({ kind: 'markdown' as const, label: 'references', markdown, fallback: report.title })),
      ...reportFiles(report).map((f) => {
        const md = f.name.endsWith('.md');
        return { kind: 'file' as const, label: `file ${f.name}`, name: f.name, title: md ? report.title : f.name, content: f.content, markdown: md };
      }),
    ];
  }

  async postReportPart(thread: ThreadKey, reportPart: ReportPart, tag: PostTag): Promise<void> {
    const part = reportPart as SlackReportPart;
    const { channel, threadTs } = parseThreadKey(thread);
    if (part.kind === 'markdown') return this.postMarkdown(channel, threadTs, part.markdown, part.fallback, tag);
    try {
      await this.web.filesUploadV2({
        channel_id: channel,
        thread_ts: threadTs,
        file: Buffer.from(part.content, 'utf8'),
        filename: escapePlain(part.name),
        title: escapePlain(part.title),
        ...(part.markdown ? { snippet_type: 'markdown' } : {}),
      } as never);
    } catch (err) {
      // The report is already in the thread; the files are a convenience.
      this.stats.error(slackFailure(err).code);
      this.log.warn({ err: slackFailure(err).code, file: part.name }, 'report file upload failed');
    }
  }

  /**
   * Downloads a file a person attached, with the bot token; the token is only ever sent to Slack's own hosts.
   * Slack answers a request it does not accept with a redirect to its sign-in page, never followed.
   */
  async download(_thread: ThreadKey, file: FileRef, limits: DownloadLimits): Promise<Uint8Array> {
    if (file.size > limits.maxBytes) {
      throw new Error(`${file.name} is ${formatBytes(file.size)}, more than the limit of ${formatBytes(limits.maxBytes)}.`);
    }
    const url = URL.canParse(file.url ?? '') ? new URL(file.url!) : undefined;
    if (!url || !this.fileHosts.includes(url.host)) throw new Error(`${file.name} is not stored on Slack, so the bot did not fetch it.`);
    try {
      return await boundedDownload(url, { what: file.name, maxBytes: limits.maxBytes, timeoutMs: limits.timeoutMs, headers: { authorization: `Bearer ${this.web.token}` } });
    } catch (err) {
      if (err instanceof DownloadError && err.reason === 'redirect') {
        throw new Error(`${file.name} could not be fetched from Slack (it asked the bot to sign in).`, { cause: err });
      }
      throw err;
    }
  }

  async setStatus(thread: ThreadKey, status: string | null): Promise<void> {
    clearInterval(this.statusTimers.get(thread));
    this.statusTimers.delete(thread);
    const { channel, threadTs } = parseThreadKey(thread);
    const send = () =>
      this.quiet.assistant.threads
        .setStatus({ channel_id: channel, thread_ts: threadTs, status: status ?? '' })
        .catch((err: unknown) => this.log.debug({ err: slackFailure(err).code }, 'setStatus not available'));
    await send();
    if (status) {
      const timer = setInterval(() => void send(), STATUS_REFRESH_MS);
      timer.unref();
      this.statusTimers.set(thread, timer);
    }
  }

  stop(): void {
    for (const t of this.statusTimers.values()) clearInterval(t);
    this.statusTimers.clear();
  }

  /** One markdown block per message; should Slack still refuse a part as too long, it is split further. */
  private async postMarkdown(channel: string, threadTs: string, markdown: string, fallback: string, tag: PostTag, depth = 0): Promise<void> {
    try {
      await this.web.chat.postMessage({
        channel,
        thread_ts: threadTs,
        text: escapeMrkdwn(clip(fallback, 3000)),
        blocks: [{ type: 'markdown', text: markdown } as never],
        unfurl_links: false,
        unfurl_media: false,
        ...metadata(tag),
      });
    } catch (err) {
      const code = slackFailure(err).code;
      this.stats.error(code);
      if (depth < 3 && ['msg_too_long', 'msg_blocks_too_long', 'invalid_blocks'].includes(code ?? '')) {
        for (const half of splitMarkdown(markdown, Math.floor(markdown.length / 2) + 1)) {
          await this.postMarkdown(channel, threadTs, half, fallback, tag, depth + 1);
        }
        return;
      }
      throw err;
    }
  }
}

function metadata(tag: PostTag | undefined) {
  return tag ? { metadata: { event_type: POST_EVENT, event_payload: { tag } } } : {};
}

function signature(view: View): string {
  if (view.kind !== 'progress') return `${view.kind}:${view.kind === 'clarify' ? `${view.state}:${view.open}` : ''}`;
  return `${view.state}:${view.progress?.phase ?? ''}:${view.progress?.rounds.length ?? 0}:${view.position ?? ''}`;
}

