import { splitMarkdown } from '../../common/markdown.js';
import type { Lang } from '../../core/i18n.js';
import type { ReportPart } from '../../core/ports/chat.js';
import { clip } from '../../core/progress-text.js';
import { reportFiles, type Report } from '../../core/report.js';
import type { CanvasPart } from './canvas.js';
import { canvasMarkdown } from './canvas-markdown.js';
import { escapePlain, neutraliseMarkdown } from './escape.js';

/** Markdown per message: Slack allows 12,000 characters across a message's markdown blocks. */
export const REPORT_PART_MAX = 11_000;

/** Where a part of the report body sits in the whole body (as neutralised for Slack), so a live stream can show it. */
interface BodySpan {
  full: string;
  start: number;
  end: number;
}

/** A canvas title: Slack does not document a maximum; a long one is cut here. */
const CANVAS_TITLE_MAX = 150;

export type SlackReportPart = ReportPart &
  (
    | { kind: 'markdown'; markdown: string; fallback: string; body?: BodySpan | null }
    | { kind: 'file'; name: string; title: string; content: string; markdown: boolean }
    | CanvasPart
  );

/**
 * The report as Markdown messages (split at headings and paragraphs), the references, the whole report as a canvas
 * (always a part, so the parts stay the same whatever the workspace allows; a workspace without canvases skips it),
 * then the files, last as before. Each body part knows where it sits in the whole body, so a part the live stream
 * already shows is not posted again.
 */
export function reportParts(report: Report, lang: Lang = 'en'): SlackReportPart[] {
  const full = neutraliseMarkdown(report.body);
  const body = splitMarkdown(full, REPORT_PART_MAX);
  let cursor = 0;
  const spans = body.map((markdown): BodySpan | null => {
    const at = full.indexOf(markdown, cursor);
    // A piece of a block too large for one message is not in the body as such: it is always posted.
    if (at < 0) return null;
    cursor = at + markdown.length;
    return { full, start: at, end: cursor };
  });
  const refs = splitMarkdown(neutraliseMarkdown(report.referencesMarkdown), REPORT_PART_MAX);
  return [
    ...body.map((markdown, i) => ({
      kind: 'markdown' as const,
      label: `report ${i + 1}/${body.length}`,
      markdown,
      fallback: body.length > 1 ? `${report.title} (${i + 1}/${body.length})` : report.title,
      body: spans[i],
    })),
    ...refs.map((markdown) => ({ kind: 'markdown' as const, label: 'references', markdown, fallback: report.title })),
    { kind: 'canvas' as const, label: 'canvas', title: escapePlain(clip(report.title, CANVAS_TITLE_MAX)), markdown: canvasMarkdown(report.markdown), lang },
    ...reportFiles(report).map((f) => {
      const md = f.name.endsWith('.md');
      return { kind: 'file' as const, label: `file ${f.name}`, name: f.name, title: md ? report.title : f.name, content: f.content, markdown: md };
    }),
  ];
}
