import type { Lang } from '../../core/i18n.js';
import type { Logger } from '../../core/ports/logger.js';
import { splitMarkdown } from '../../common/markdown.js';
import { reportFiles, type Report } from '../../core/report.js';
import { createHash } from 'node:crypto';
import type { Platform, PlatformStats, PostTag, ReportPart, ThreadKey, View } from '../../core/ports/chat.js';
import { toFeishuError, type FeishuApi } from './api.js';
import { renderCard, reportCard, type Card } from './cards.js';
import { cardMarkdown } from './escape.js';
import { parseThreadKey } from './thread-key.js';
import type { CardPatcher } from './patcher.js';

/** Characters of report Markdown per card: CJK text is 3 bytes a character, so this stays well under 30 KB. */
export const REPORT_PART_MAX = 7000;
/** Card bodies above this are split again before sending (Feishu refuses cards over 30 KB). */
export const CARD_MAX_BYTES = 28_000;
/** Feishu refuses a card with a fourth table (230099/11310). */
export const TABLES_PER_CARD = 3;

type FeishuReportPart = ReportPart & ({ kind: 'card'; title: string; markdown: string } | { kind: 'file'; name: string; content: string });

/**
 * The reply's idempotency key for a tagged post: Feishu sends at most one message per uuid within an hour, so a
 * post repeated after a restart (its first attempt's answer lost with the process) does not appear twice.
 */
function uuidFor(thread: ThreadKey, tag: PostTag | undefined, piece = 0): string | undefined {
  return tag ? createHash('sha256').update(`${thread}\n${tag}\n${piece}`).digest('hex').slice(0, 40) : undefined;
}

export class FeishuPlatform implements Platform {
  readonly name = 'feishu';
  readonly stats: PlatformStats;

  constructor(
    private readonly api: FeishuApi,
    private readonly patcher: CardPatcher,
    private readonly log: Logger,
  ) {
    this.stats = api.stats;
  }

  async post(thread: ThreadKey, view: View, tag?: PostTag): Promise<string> {
    return this.api.reply(parseThreadKey(thread).root, 'interactive', renderCard(view, thread), uuidFor(thread, tag));
  }

  async update(thread: ThreadKey, messageId: string, view: View, final: boolean): Promise<void> {
    this.patcher.patch(messageId, renderCard(view, thread), final);
  }

  /** The report as cards (split at headings and paragraphs, at most 3 tables each), the references, then the files. */
  reportParts(_thread: ThreadKey, report: Report, _lang: Lang): FeishuReportPart[] {
    const body = splitMarkdown(cardMarkdown(report.body), REPORT_PART_MAX, { maxTables: TABLES_PER_CARD });
    const refs = splitMarkdown(cardMarkdown(report.referencesMarkdown), REPORT_PART_MAX);
    return [
      ...body.map((markdown, i) => ({
        kind: 'card' as const,
        label: `report ${i + 1}/${body.length}`,
        title: body.length > 1 ? `${report.title} (${i + 1}/${body.length})` : report.title,
        markdown,
      })),
      ...refs.map((markdown) => ({ kind: 'card' as const, label: 'references', title: report.title, markdown })),
      ...reportFiles(report).map((f) => ({ kind: 'file' as const, label: `file ${f.name}`, name: f.name, content: f.content })),
    ];
  }

  async postReportPart(thread: ThreadKey, reportPart: ReportPart, tag: PostTag): Promise<void> {
    const part = reportPart as FeishuReportPart;
    const { root } = parseThreadKey(thread);
    if (part.kind === 'card') return void (await this.postCards(root, part.title, part.markdown, (n) => uuidFor(thread, tag, n)));
    try {
      const fileKey = await this.api.uploadFile(part.name, Buffer.from(part.content, 'utf8'));
      await this.api.reply(root, 'file', { file_key: fileKey }, uuidFor(thread, tag));
    } catch (err) {
      // The report is already in the thread; the files are a convenience.
      this.log.warn({ code: toFeishuError(err).code, file: part.name }, 'report file upload failed');
    }
  }

  /** One card per part; a part whose card would still be too large is halved (each piece with its own uuid). */
  private async postCards(root: string, title: string, markdown: string, uuid: (piece: number) => string | undefined, piece = 0): Promise<number> {
    const card: Card = reportCard(title, markdown);
    if (Buffer.byteLength(JSON.stringify(card)) > CARD_MAX_BYTES && markdown.length > 1) {
      for (const half of splitMarkdown(markdown, Math.ceil(markdown.length / 2))) piece = await this.postCards(root, title, half, uuid, piece);
      return piece;
    }
    await this.api.reply(root, 'interactive', card, uuid(piece));
    return piece + 1;
  }
}
