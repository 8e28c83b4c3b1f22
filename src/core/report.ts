import type { Reference, ReportFile, Usage } from './ports/research.js';
import { blocks, isHttpUrl, keepHttpLinks, mapProse, sliceChars } from '../common/markdown.js';
import { checkCitations, type CitationCheck } from './citations.js';

/** The words a report adds around the model's text, in the thread's language (see i18n). */
export interface ReportText {
  referencesHeading: string;
  /** The flag on a source the research never visited. */
  notVisited: string;
  /** The closing line: citations and how they were checked, tokens and cost. */
  footer(check: CitationCheck, usage: Usage | undefined, cost: string | undefined): string;
  /** The line that links the report's page. */
  pageLink(url: string): string;
}

const ENGLISH: ReportText = {
  referencesHeading: 'References',
  notVisited: 'not among the visited sources',
  footer: (c) => `${c.cited} citations, ${c.sources} sources.`,
  pageLink: (url) => `Page: ${url}`,
};

export interface Report {
  title: string;
  /** The report with citations linked to their sources. */
  body: string;
  /** Every reference, numbered, in order. */
  references: Reference[];
  /** `## References` with one numbered link per source, or '' when there are none. */
  referencesMarkdown: string;
  /** body + references: the file people share. */
  markdown: string;
  wordCount: number;
  usage?: Usage;
  check: CitationCheck;
  /** Further files to attach beside the Markdown (the agent's HTML rendering). */
  files: ReportFile[];
}

const CITATION = /\[\[(\d+(?:\s*,\s*\d+)*)\]\]/g;

/** Makes a URL safe inside a Markdown link destination. */
export function linkTarget(url: string): string {
  return url.replace(/[()\s<>]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** Makes text safe inside a Markdown link label. */
export function linkLabel(text: string): string {
  return text.replace(/[[\]\\]/g, (c) => `\\${c}`).replace(/\s+/g, ' ').trim();
}

/** Makes text safe inside a Markdown link title `"…"`. */
function linkTitle(text: string): string {
  return text.replace(/"/g, "'").replace(/\\/g, '\\\\').replace(/\s+/g, ' ').trim();
}

export function linkCitations(markdown: string, references: Reference[]): string {
  const byIndex = new Map(references.map((r) => [r.index, r]));
  return mapProse(markdown, (text) =>
    text.replace(CITATION, (_m, list: string) =>
      list
        .split(',')
        .map((n) => Number(n.trim()))
        .map((n) => {
          const ref = byIndex.get(n);
          // A source whose URL breaks the link policy is cited without a link.
          return ref && isHttpUrl(ref.url) ? `[\\[${n}\\]](${linkTarget(ref.url)} "${linkTitle(ref.title)}")` : `\\[${n}\\]`;
        })
        .join(''),
    ),
  );
}

export function referencesMarkdown(references: Reference[], heading: string, flagged: ReadonlySet<number> = new Set(), flag = ''): string {
  if (references.length === 0) return '';
  const lines = references.map((r) => {
    const label = linkLabel(r.title) || linkLabel(r.url);
    const line = isHttpUrl(r.url) ? `${r.index}. [${label}](${linkTarget(r.url)})` : `${r.index}. ${label}`;
    return flagged.has(r.index) ? `${line} ⚠️ *${flag}*` : line;
  });
  // A title is text from the web: any link it spells out goes through the policy too.
  return keepHttpLinks(`## ${heading}\n\n${lines.join('\n')}\n`);
}

export function titleOf(markdown: string, fallback: string): string {
  for (const token of blocks(markdown)) {
    if (token.type === 'heading') return (token as { text: string }).text.trim() || fallback;
  }
  return fallback;
}

/** Words in Latin scripts plus one per CJK character, the usual way Chinese text is counted. */
export function countWords(text: string): number {
  const cjk = text.match(/[\u3400-\u9fff\uf900-\ufaff]/g)?.length ?? 0;
  const latin = text.replace(/[\u3400-\u9fff\uf900-\ufaff]/g, ' ').match(/[A-Za-z0-9][\w'’-]*/g)?.length ?? 0;
  return cjk + latin;
}

/**
 * The report while it is written, for streaming: only the blocks already complete (never a half-written link,
 * table or code block), with the link policy applied and citations linked. `final`: the answer is complete.
 */
export function draftMarkdown(draft: string, references: Reference[], final = false): string {
  const tokens = blocks(draft);
  // The last block may still grow; a block is complete once another has started after it.
  const done = final ? tokens : tokens.slice(0, lastContentIndex(tokens));
  return linkCitations(keepHttpLinks(done.map((t) => t.raw).join('').trim()), [...references].sort((a, b) => a.index - b.index));
}

function lastContentIndex(tokens: { type: string }[]): number {
  for (let i = tokens.length - 1; i >= 0; i--) if (tokens[i]!.type !== 'space') return i;
  return 0;
}

/**
 * The report people get: citations linked, checked against the pages the research visited (`visited`; a source
 * never visited is flagged in the references, nothing is dropped), and a closing line with the counts, the
 * tokens and the estimated cost.
 */
export function buildReport(input: {
  answer: string;
  references: Reference[];
  topic: string;
  usage?: Usage;
  /** Estimated cost, formatted (`¥1.26`); left out when the price is unknown. */
  cost?: string;
  visited?: string[];
  /** The report's page, linked under the footer. */
  pageUrl?: string;
  text?: ReportText;
  files?: ReportFile[];
  /** A line saying which earlier report this one builds on (Markdown), put before the body. */
  buildsOn?: string;
}): Report {
  const text = input.text ?? ENGLISH;
  const references = [...input.references].sort((a, b) => a.index - b.index);
  const check = checkCitations(input.answer, references, input.visited);
  const answer = linkCitations(keepHttpLinks(input.answer.trim()), references);
  const body = input.buildsOn ? `${keepHttpLinks(input.buildsOn)}\n\n${answer}` : answer;
  const list = referencesMarkdown(references, text.referencesHeading, new Set(check.unvisited), text.notVisited);
  const page = input.pageUrl && isHttpUrl(input.pageUrl) ? `\n\n${text.pageLink(input.pageUrl)}` : '';
  const footer = `*${text.footer(check, input.usage, input.cost)}*${page}`;
  const refs = list ? `${list}\n${footer}\n` : `${footer}\n`;
  return {
    title: titleOf(input.answer, input.topic),
    body,
    references,
    referencesMarkdown: refs,
    markdown: `${body}\n\n${refs}`,
    wordCount: countWords(input.answer),
    usage: input.usage,
    check,
    files: input.files ?? [],
  };
}

/** The files people get with a report: the Markdown, then any the backend made, named after the title. */
export function reportFiles(report: Report): { name: string; contentType: string; content: string }[] {
  const base = slug(report.title);
  return [
    { name: `${base}.md`, contentType: 'text/markdown', content: report.markdown },
    ...report.files.map((f) => ({ ...f, name: `${base}${/\.[a-z0-9]+$/i.exec(f.name)?.[0] ?? ''}` })),
  ];
}

/** A file-name-safe slug that keeps CJK characters. */
export function slug(title: string): string {
  const s = title
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '-')
    .replace(/^-+/, '');
  return sliceChars(s, 60).replace(/-+$/, '') || 'report';
}
