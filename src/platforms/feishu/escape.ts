import { blocks, keepHttpLinks, mapProse } from '../../core/markdown.js';

/**
 * Markdown for a card's `markdown` element, from the model or a person. Card Markdown turns tags into
 * mentions and styling (`<at id=all></at>`, `<at user_id="…">`, `<font>`, `<link>`, `<text_tag>`), so every
 * `<` in prose becomes the entity `&#60;` (and an `&` that would start an entity is escaped), which no tag can
 * survive. Code blocks and code spans are left as they are; only http(s) links are kept.
 */
export function cardMarkdown(markdown: string): string {
  return demoteHeadings(
    mapProse(markdown, (prose) =>
      keepHttpLinks(prose)
        .replace(/&(?=#?\w+;)/g, '&#38;')
        .replace(/</g, '&#60;'),
    ),
  );
}

/** Card Markdown draws H1–H3 oversized; the report's headings become H4 and H5, keeping their order. */
function demoteHeadings(markdown: string): string {
  return blocks(markdown)
    .map((t) => (t.type === 'heading' ? t.raw.replace(/^#{1,6}/, (t as { depth: number }).depth <= 2 ? '####' : '#####') : t.raw))
    .join('');
}
