import { blocks, splitMarkdown } from '../../common/markdown.js';
import { clip } from '../../core/progress-text.js';
import type { View } from '../../core/ports/chat.js';
import { draftMarkdown } from '../../core/report.js';
import { continuedCard, LIVE_PRIORITY, liveProgressCard, type Card } from './cards.js';
import { cardMarkdown } from './escape.js';
import type { LiveCardSource } from './cardkit-ops.js';
import type { LiveCard } from './live-card.js';

type ProgressView = Extract<View, { kind: 'progress' }>;

/** Characters of report Markdown per card: CJK text is 3 bytes a character, so this stays well under 30 KB. */
export const REPORT_PART_MAX = 7000;
/** Feishu refuses a card with a fourth table (230099/11310). */
export const TABLES_PER_CARD = 3;
/**
 * The live card's report, in bytes as it stands in the card JSON: with the progress lines (at most
 * LIVE_PROGRESS_MAX_BYTES, see liveProgressCard) the card stays under 29 KB, below Feishu's 30 KB.
 */
export const LIVE_REPORT_MAX_BYTES = 23_500;

/** The report's body parts as reportParts splits them: neutralised, at most REPORT_PART_MAX characters and 3 tables each. */
export function bodyParts(markdown: string): string[] {
  return splitMarkdown(cardMarkdown(markdown), REPORT_PART_MAX, { maxTables: TABLES_PER_CARD });
}

function tables(markdown: string): number {
  return blocks(markdown).filter((t) => t.type === 'table').length;
}

/**
 * How many of the report's parts (from the first) the live card holds: as many as fit in LIVE_REPORT_MAX_BYTES with
 * at most three tables. Depends on the parts alone, so a process that restarted knows what the card held.
 */
export function liveCapacity(parts: readonly string[]): number {
  let n = 0;
  let tableCount = 0;
  while (n < parts.length) {
    tableCount += tables(parts[n]!);
    if (tableCount > TABLES_PER_CARD || Buffer.byteLength(JSON.stringify(joinParts(parts.slice(0, n + 1)))) > LIVE_REPORT_MAX_BYTES) break;
    n++;
  }
  return n;
}

export function joinParts(parts: readonly string[]): string {
  return parts.join('\n\n');
}

/**
 * The progress of one run as a live card: the progress lines and the report. While the report is written, the
 * card shows the complete blocks of the draft (citations linked) as far as the live card holds them; once the report
 * is delivered, exactly its first parts (`shown`), which are then not posted again. `plain`: a card found again
 * after a restart whose run is over, shown as the patched card was (the report it held is set from `shown`).
 */
export class LiveProgress implements LiveCardSource {
  readonly priority = LIVE_PRIORITY;
  card: LiveCard | undefined;
  /** The report's body parts, once its delivery began in this process. */
  body: readonly string[] | undefined;
  /** How many body parts the card shows as delivered. */
  shown = 0;

  constructor(
    readonly thread: string,
    public view: ProgressView,
  ) {}

  render(streaming: boolean): Card {
    return liveProgressCard(this.view, this.thread, this.report(), streaming);
  }

  retired(): Card {
    return continuedCard(this.view);
  }

  summary(): string {
    return clip(this.view.topic.replace(/\s+/g, ' '), 100);
  }

  /** The report as the card shows it now. */
  report(): string {
    if (this.body) return joinParts(this.body.slice(0, this.shown));
    const p = this.view.progress;
    if ((this.view.state !== 'researching' && this.view.state !== 'queued') || !p?.draft) return '';
    // Rendered again only when the draft or its sources changed (the card is rendered before every operation).
    if (this.draft?.text !== p.draft || this.draft.references !== p.references.length) {
      const parts = bodyParts(draftMarkdown(p.draft, p.references));
      this.draft = { text: p.draft, references: p.references.length, markdown: joinParts(parts.slice(0, liveCapacity(parts))) };
    }
    return this.draft.markdown;
  }

  private draft: { text: string; references: number; markdown: string } | undefined;
}


