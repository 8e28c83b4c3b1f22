import type { Token, Tokens } from 'marked';
import { blocks, keepHttpLinks, mapProse, sliceChars } from '../../common/markdown.js';
import { escapePlain } from './escape.js';

/**
 * What `canvases.create` takes as `document_content.markdown`. Slack documents a 1 MiB (1,048,576 characters)
 * cap for channel canvases (`conversations.canvases.create`); the same cap is assumed for standalone ones.
 */
export const CANVAS_MARKDOWN_MAX = 1_000_000;

/** Text-level HTML tags turned into canvas Markdown (the rest lose their tags, never their text, or stay as text). */
const HTML_MARKS: Record<string, string> = { b: '**', strong: '**', i: '*', em: '*', s: '~~', del: '~~', strike: '~~' };
const HTML_DROPPED = /^(?:sup|sub|u|ins|mark|small|big|span|font|kbd|abbr|cite|q|center|p|div)$/i;

/**
 * A report's Markdown as canvas Markdown. Canvases take standard Markdown with their own limits (Slack's
 * `canvases.create` reference: bold, italic, strikethrough, lists and checklists, code blocks and spans,
 * dividers, headings h1–h3 only, inline links and link references, Markdown tables, quotes, emoji; no Block
 * Kit, no HTML), so:
 * - headings h4–h6 become a bold line; setext headings become `#` headings; indented and `~~~` code becomes fenced;
 * - tables stay Markdown tables (a `<br>` in a cell becomes " / ", which keeps the row on one line);
 * - images become links to the image (canvas Markdown writes mentions as images: `![](@U…)`, `![](#C…)`);
 * - link titles are dropped, citations `[\[1\]](url "title")` become `[[1](url)]`, `<https://…>` a plain link;
 * - `<br>` outside tables becomes a line break; `<b>`/`<strong>`, `<i>`/`<em>`, `<s>`/`<del>` become Markdown,
 *   inline tags that only style (`<sup>`, `<span>`, …) lose their tags; any other HTML stays visible as text;
 * - as everywhere in the Slack code, only http(s) links survive and no `<!channel>`, `<@U…>`, `<#C…>`,
 *   `<url|label>` token or plain "@channel" can form (a zero-width space after `<` and `@`); code is kept as
 *   written apart from that.
 * Nothing is dropped: every line of text is in the result.
 */
export function canvasMarkdown(markdown: string): string {
  const out = blocks(keepHttpLinks(markdown.replace(/\r\n?/g, '\n')))
    .map(convertBlock)
    .join('');
  const doc = escapePlain(out).trim() + '\n';
  return doc.length > CANVAS_MARKDOWN_MAX ? clipCanvas(doc) : doc;
}

function convertBlock(token: Token): string {
  const gap = /\n*$/.exec(token.raw)?.[0] ?? '';
  switch (token.type) {
    case 'space':
      return token.raw;
    case 'code':
      return fenced(token as Tokens.Code) + gap;
    case 'heading': {
      const h = token as Tokens.Heading;
      const text = inline(h.text.replace(/\n/g, ' ').trim());
      return (h.depth <= 3 ? `${'#'.repeat(h.depth)} ${text}` : text.includes('**') ? text : `**${text}**`) + gap;
    }
    case 'table':
      return inline(token.raw, ' / ');
    default:
      return inline(token.raw);
  }
}

/** A code block as a fenced block, with a fence longer than any run of backticks inside it. */
function fenced(code: Tokens.Code): string {
  const longest = Math.max(2, ...(code.text.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longest + 1);
  const lang = (code.lang ?? '').split(/\s/)[0]!.replace(/`/g, '');
  return `${fence}${lang}\n${code.text}\n${fence}`;
}

/** Prose rules (code spans and code blocks inside lists and quotes are left alone). */
function inline(markdown: string, lineBreak = '\n'): string {
  return mapProse(markdown, (text) =>
    text
      // Citations: the number stays in brackets, linked, without the title canvases may not take.
      .replace(/\[\\\[(\d+)\\\]\]\((\S+?)(?:[ \t]+"(?:[^"\\\n]|\\.)*")?\)/g, '[[$1]($2)]')
      // Link titles, in any of Markdown's quotes.
      .replace(/\]\((<[^<>\n]*>|[^\s()<>]+)[ \t]+(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|\((?:[^()\\\n]|\\.)*\))\)/g, ']($1)')
      // Images: a link to the image, labelled with its alt text.
      .replace(/(?<!\\)!\[([^\]\n]*)\](?=[([])/g, (_m, alt: string) => `[${alt.trim() || 'image'}]`)
      // Autolinks: a link labelled with its URL.
      .replace(/<(https?:\/\/[^\s<>|]+)>/gi, (_m, url: string) => `[${url}](${url.replace(/[()]/g, (c) => (c === '(' ? '%28' : '%29'))})`)
      .replace(/<br\s*\/?>/gi, lineBreak)
      .replace(/<(\/?)([a-z]+)(?:\s[^<>]*)?>/gi, (tag: string, _close: string, name: string) => HTML_MARKS[name.toLowerCase()] ?? (HTML_DROPPED.test(name) ? '' : tag)),
  );
}

/** A document over the cap: cut at a line, with a note that the `.md` file holds it all. */
function clipCanvas(doc: string): string {
  const note = '\n\n---\n\n*The report is longer than a canvas holds; the `.md` file in the thread has all of it.*\n';
  const room = CANVAS_MARKDOWN_MAX - note.length;
  const cut = doc.lastIndexOf('\n', room);
  let body = sliceChars(doc, cut > room / 2 ? cut : room);
  // An unclosed code fence would swallow the note.
  if ((body.match(/^`{3,}/gm) ?? []).length % 2 === 1) body += '\n```';
  return body + note;
}
