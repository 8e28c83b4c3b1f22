import { blocks, keepHttpLinks, mapProse } from '../../common/markdown.js';

const ZWSP = '\u200B';
const ENTITY_START = /&(?=#?\w+;)/g;

/**
 * Markdown for a card's `markdown` element, from the model or a person. Card Markdown turns tags into
 * mentions and styling (`<at id=all></at>`, `<at user_id="…">`, `<font>`, `<link>`, `<text_tag>`), so every
 * `<` in prose becomes the entity `&#60;` (and an `&` that would start an entity is escaped), which no tag can
 * survive. Only http(s) links are kept (the link policy).
 *
 * Card Markdown may read tags inside code too, but an entity there would show as `&#60;` wherever code is
 * rendered literally; a zero-width space after each `<` (and after an `&` that would start an entity) stops
 * any tag from forming and looks the same either way.
 */
export function cardMarkdown(markdown: string): string {
  return demoteHeadings(
    mapProse(
      keepHttpLinks(markdown),
      (prose) => prose.replace(ENTITY_START, '&#38;').replace(/</g, '&#60;'),
      (code) => code.replace(ENTITY_START, `&${ZWSP}`).replace(/</g, `<${ZWSP}`),
    ),
  );
}

/** Card Markdown draws H1–H3 oversized; the report's headings become H4 and H5, keeping their order. */
function demoteHeadings(markdown: string): string {
  return blocks(markdown)
    .map((t) => (t.type === 'heading' ? t.raw.replace(/^#{1,6}/, (t as { depth: number }).depth <= 2 ? '####' : '#####') : t.raw))
    .join('');
}
