import { blocks, mapProse } from '../common/markdown.js';
import { strings } from './i18n.js';
import type { ModelMessage } from './ports/followup.js';
import type { Lang, StoredReport, Turn } from './ports/thread.js';

/**
 * Bounds of what a follow-up question sends to the chat model, in characters (a CJK character is about a token,
 * so this stays inside qwen-plus's 129k-token input with room for the answer).
 */
export const CONTEXT_LIMITS = { total: 90_000, history: 16_000, turns: 8 };

const CITATION = /\[\[(\d+(?:\s*,\s*\d+)*)\]\]/g;

/** The opening of a report (its first sections, up to about `max` characters), citations left out, for "Research further". */
export function reportSummary(answer: string, max = 1500): string {
  let out = '';
  for (const token of blocks(answer)) {
    if (out.length > 0 && out.length + token.raw.length > max) break;
    out += token.raw;
  }
  const text = mapProse(out, (prose) => prose.replace(CITATION, '')).trim();
  return Array.from(text).slice(0, max * 2).join('');
}

/**
 * The messages for one follow-up question: instructions and the report with its numbered sources (trimmed by
 * whole sections from the end when too long), the earlier questions and answers (newest kept, oldest dropped
 * first, within bounds), then the question.
 */
export function followupMessages(input: { report: StoredReport; earlier: readonly Turn[]; question: string; lang: Lang; limits?: typeof CONTEXT_LIMITS }): ModelMessage[] {
  const limits = input.limits ?? CONTEXT_LIMITS;
  const t = strings(input.lang).followup;
  const sources = [...input.report.references]
    .sort((a, b) => a.index - b.index)
    .map((r) => `[${r.index}] ${r.title.replace(/\s+/g, ' ').trim()} — ${r.url}`)
    .join('\n');
  const history: ModelMessage[] = [];
  let used = 0;
  for (const turn of [...input.earlier].reverse()) {
    if (turn.answer === undefined) continue;
    const size = turn.question.length + turn.answer.length;
    if (history.length / 2 >= limits.turns || used + size > limits.history) break;
    used += size;
    history.unshift({ role: 'user', content: turn.question }, { role: 'assistant', content: turn.answer });
  }
  const fixed = t.system.length + sources.length + input.question.length + used + 200;
  const report = trimSections(input.report.answer, Math.max(2000, limits.total - fixed), t.omitted);
  const system = `${t.system}\n\n## ${t.reportHeading}\n\n${report}\n\n## ${t.sourcesHeading}\n\n${sources}`;
  return [{ role: 'system', content: system }, ...history, { role: 'user', content: input.question }];
}

/** The report within `max` characters: whole sections kept from the start, each one left out named in their place. */
export function trimSections(markdown: string, max: number, omitted: (heading: string) => string): string {
  if (markdown.length <= max) return markdown;
  const sections: { heading: string; text: string }[] = [];
  for (const token of blocks(markdown)) {
    const heading = token.type === 'heading' ? (token as { text: string }).text.trim() : undefined;
    if (heading !== undefined || sections.length === 0) sections.push({ heading: heading ?? '', text: '' });
    sections.at(-1)!.text += token.raw;
  }
  let out = '';
  const notes: string[] = [];
  for (const section of sections) {
    if (notes.length === 0 && out.length + section.text.length <= max) out += section.text;
    else notes.push(omitted(section.heading || '…'));
  }
  // A single section longer than the limit is cut at a character boundary rather than lost.
  if (!out) out = Array.from(sections[0]?.text ?? '').slice(0, max).join('');
  return `${out.trimEnd()}\n\n${notes.join('\n')}`.trim();
}
