import type { Lang } from '../../core/i18n.js';
import type { Logger } from '../../core/ports/logger.js';
import { splitMarkdown } from '../../common/markdown.js';
import { reportFiles, type Report } from '../../core/report.js';
import type { Platform, PlatformStats, ThreadKey, View } from '../../core/ports/chat.js';
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

  async post(thread: ThreadKey, view: View): Promise<string> {
    return this.api.reply(parseThreadKey(thread).root, 'interactive', renderCard(view, thread));
  }

  async update(thread: ThreadKey, messageId: string, view: View, final: boolean): Promise<void> {
    this.patcher.patch(messageId, renderCard(view, thread), final);
  }

  async postReport(thread: ThreadKey, report: Report, lang: Lang): Promise<void> {
    const { root } = parseThreadKey(thread);
    const parts = splitMarkdown(cardMarkdown(report.body), REPORT_PART_MAX, { maxTables: TABLES_PER_CARD });
    for (const [i, part] of parts.entries()) {
      await this.postCards(root, parts.length > 1 ? `${report.title} (${i + 1}/${parts.length})` : report.title, part);
    }
    for (const part of splitMarkdown(cardMarkdown(report.referencesMarkdown), REPORT_PART_MAX)) {
      await this.postCards(root, report.title, part);
    }
    for (const file of reportFiles(report)) {
      try {
        const fileKey = await this.api.uploadFile(file.name, Buffer.from(file.content, 'utf8'));
        await this.api.reply(root, 'file', { file_key: fileKey });
      } catch (err) {
        // The report is already in the thread; the files are a convenience.
        this.log.warn({ code: toFeishuError(err).code, file: file.name, lang }, 'report file upload failed');
      }
    }
  }

  /** One card per part; a part whose card would still be too large is halved. */
  private async postCards(root: string, title: string, markdown: string): Promise<void> {
    const card: Card = reportCard(title, markdown);
    if (Buffer.byteLength(JSON.stringify(card)) > CARD_MAX_BYTES && markdown.length > 1) {
      for (const half of splitMarkdown(markdown, Math.ceil(markdown.length / 2))) await this.postCards(root, title, half);
      return;
    }
    await this.api.reply(root, 'interactive', card);
  }
}
