import { mapProse } from '../common/markdown.js';
import type { Reference } from './ports/research.js';

const CITATION = /\[\[(\d+(?:\s*,\s*\d+)*)\]\]/g;

/** What a report cites, checked against the pages the research actually visited. */
export interface CitationCheck {
  /** Distinct source numbers cited in the text. */
  cited: number;
  /** References the research returned. */
  sources: number;
  /** Pages the research visited; 0 when the backend reported none, so nothing could be checked. */
  visited: number;
  /** Citations with no such reference (shown as unknown, as before). */
  unknown: number[];
  /** References whose URL is not among the visited pages: flagged, never dropped. */
  unvisited: number[];
}

/** A URL as a source is known by: scheme, `www.`, fragment, trailing slash and letter case of the host do not count. */
export function sourceKey(url: string): string {
  try {
    const u = new URL(url.trim());
    const host = u.hostname.toLowerCase().replace(/^www\./, '');
    return `${host}${u.port ? `:${u.port}` : ''}${u.pathname.replace(/\/+$/, '')}${u.search}`;
  } catch {
    return url.trim();
  }
}

export function checkCitations(answer: string, references: readonly Reference[], visited: readonly string[] = []): CitationCheck {
  const numbers = new Set<number>();
  // Citations in prose only: `[[1]]` in code is code.
  mapProse(answer, (prose) => {
    for (const m of prose.matchAll(CITATION)) for (const n of m[1]!.split(',')) numbers.add(Number(n.trim()));
    return prose;
  });
  const known = new Set(references.map((r) => r.index));
  const seen = new Set(visited.map(sourceKey));
  return {
    cited: numbers.size,
    sources: references.length,
    visited: seen.size,
    unknown: [...numbers].filter((n) => !known.has(n)).sort((a, b) => a - b),
    unvisited: seen.size === 0 ? [] : references.filter((r) => !seen.has(sourceKey(r.url))).map((r) => r.index),
  };
}
