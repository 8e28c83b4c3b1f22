import type { WebClient } from '@slack/web-api';
import type { Lang } from '../../core/i18n.js';
import type { Logger } from '../../core/ports/logger.js';
import { splitMarkdown } from '../../common/markdown.js';
import { reportFiles, type Report } from '../../core/report.js';
import { boundedDownload, DownloadError, formatBytes } from '../../common/download.js';
import { PlatformStats, type DownloadLimits, type FileRef, type Platform, type ThreadKey, type View } from '../../core/ports/chat.js';
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

  async post(thread: ThreadKey, view: View): Promise<string> {
    const { channel, threadTs } = parseThreadKey(thread);
    const msg = renderView(view, thread);
    const res = await this.web.chat
      .postMessage({ channel, thread_ts: threadTs, ...msg, unfurl_links: false, unfurl_media: false })
      .catch((err: unknown) => {
        this.stats.error(slackFailure(err).code);
        throw err;
      });
    const ts = res.ts ?? '';
    this.shown.set(ts, signature(view));
    return ts;
  }

  async update(thread: ThreadKey, messageId: string, view: View, final: boolean): Promise<void> {
    const { channel } = parseThreadKey(thread);
    const sig = signature(view);
    const urgent = this.shown.get(messageId) !== sig;
    this.shown.set(messageId, sig);
    if (final) this.shown.delete(messageId);
    this.editor.edit(channel, messageId, renderView(view, thread), { urgent, final });
  }

  async postReport(thread: ThreadKey, report: Report, lang: Lang): Promise<void> {
    const { channel, threadTs } = parseThreadKey(thread);
    const parts = splitMarkdown(neutraliseMarkdown(report.body), REPORT_PART_MAX);
    for (const [i, part] of parts.entries()) {
      await this.postMarkdown(channel, threadTs, part, parts.length > 1 ? `${report.title} (${i + 1}/${parts.length})` : report.title);
    }
    for (const part of splitMarkdown(neutraliseMarkdown(report.referencesMarkdown), REPORT_PART_MAX)) {
      await this.postMarkdown(channel, threadTs, part, report.title);
    }
    for (const file of reportFiles(report)) {
      try {
        await this.web.filesUploadV2({
          channel_id: channel,
          thread_ts: threadTs,
          file: Buffer.from(file.content, 'utf8'),
          filename: escapePlain(file.name),
          title: escapePlain(file.name.endsWith('.md') ? report.title : file.name),
          ...(file.name.endsWith('.md') ? { snippet_type: 'markdown' } : {}),
        } as never);
      } catch (err) {
        // The report is already in the thread; the files are a convenience.
        this.stats.error(slackFailure(err).code);
        this.log.warn({ err: slackFailure(err).code, file: file.name, lang }, 'report file upload failed');
      }
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
  private async postMarkdown(channel: string, threadTs: string, markdown: string, fallback: string, depth = 0): Promise<void> {
    try {
      await this.web.chat.postMessage({
        channel,
        thread_ts: threadTs,
        text: escapeMrkdwn(clip(fallback, 3000)),
        blocks: [{ type: 'markdown', text: markdown } as never],
        unfurl_links: false,
        unfurl_media: false,
      });
    } catch (err) {
      const code = slackFailure(err).code;
      this.stats.error(code);
      if (depth < 3 && ['msg_too_long', 'msg_blocks_too_long', 'invalid_blocks'].includes(code ?? '')) {
        for (const half of splitMarkdown(markdown, Math.floor(markdown.length / 2) + 1)) {
          await this.postMarkdown(channel, threadTs, half, fallback, depth + 1);
        }
        return;
      }
      throw err;
    }
  }
}

function signature(view: View): string {
  if (view.kind !== 'progress') return `${view.kind}:${view.kind === 'clarify' ? `${view.state}:${view.open}` : ''}`;
  return `${view.state}:${view.progress?.phase ?? ''}:${view.progress?.rounds.length ?? 0}:${view.position ?? ''}`;
}

