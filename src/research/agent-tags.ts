import { isHttpUrl, mapProse } from '../common/markdown.js';
import type { Reference } from '../core/ports/research.js';

const CITE = /<qwen:cite\b[^>]*?\burl\s*=\s*(?:"([^"]*)"|'([^']*)')[^>]*>([\s\S]*?)<\/qwen:cite>/gi;
const TAKEAWAY = /<qwen:takeaway\b[^>]*>([\s\S]*?)<\/qwen:takeaway>/gi;
const ANY_QWEN_TAG = /<\/?qwen:[^>]*>/gi;

/**
 * The agent's inline tags as plain Markdown, so no raw tag reaches a person: `<qwen:cite url="u">text</qwen:cite>`
 * becomes `text[[n]]` with `u` as reference n (linked like qwen's citations when the report is built), and
 * `<qwen:takeaway>…</qwen:takeaway>` a block quote. Any other `qwen:` tag is dropped. Code is left alone.
 */
export function renderAgentTags(markdown: string): { markdown: string; references: Reference[] } {
  const references: Reference[] = [];
  const indexOf = new Map<string, number>();
  const cite = (url: string, text: string) => {
    let n = indexOf.get(url);
    if (n === undefined) {
      n = references.length + 1;
      indexOf.set(url, n);
      references.push({ index: n, url, title: hostOf(url), description: '' });
    }
    return `${text.trim()}[[${n}]]`;
  };
  const out = mapProse(markdown, (prose) =>
    prose
      .replace(CITE, (_m, dq: string | undefined, sq: string | undefined, text: string) => {
        const url = (dq ?? sq ?? '').trim();
        return isHttpUrl(url) ? cite(url, text) : text;
      })
      .replace(TAKEAWAY, (_m, text: string) => `\n\n${text.trim().split('\n').map((l) => `> ${l}`).join('\n')}\n\n`)
      .replace(ANY_QWEN_TAG, ''),
  );
  return { markdown: out.replace(/\n{3,}/g, '\n\n'), references };
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return url;
  }
}
