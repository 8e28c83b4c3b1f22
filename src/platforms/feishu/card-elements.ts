import { clip } from '../../core/progress-text.js';

/** The building blocks of every card the bot sends (card JSON 2.0). */

/** A card JSON 2.0 object. */
export type Card = Record<string, unknown>;
export type Element = Record<string, unknown>;

export const TITLE = 'Deep Research';

export function card(title: string, template: string, elements: Element[], summary: string): Card {
  return {
    schema: '2.0',
    config: { update_multi: true, summary: { content: clip(summary.replace(/\s+/g, ' '), 100) } },
    header: { title: { tag: 'plain_text', content: clip(title || TITLE, 100) }, template },
    body: { elements },
  };
}

/** A markdown element: its content must already be neutralised (cardMarkdown) or be the bot's own words. */
export function md(content: string, elementId?: string): Element {
  return elementId ? { tag: 'markdown', element_id: elementId, content } : { tag: 'markdown', content };
}

/** Text shown as it is (no Markdown, no tags): a person's or the model's words. */
export function plain(content: string): Element {
  return { tag: 'div', text: { tag: 'plain_text', content: clip(content, 4000) } };
}
