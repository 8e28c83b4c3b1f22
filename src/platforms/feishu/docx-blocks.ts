import { Lexer, type Token, type Tokens } from 'marked';
import { isHttpUrl } from '../../common/markdown.js';

/**
 * Markdown as docx blocks for the descendant insert (`documentBlockDescendant.create`): every block with a temporary
 * `block_id` and its `children`, tables as Table → TableCell → Text. Everything from the model is text content
 * (`text_run.content`); nothing is read as markup, and only http(s) links are kept.
 */

/** Block types (docx block data structure). */
export const BLOCK = { text: 2, bullet: 12, ordered: 13, code: 14, todo: 17, divider: 22, table: 31, tableCell: 32, quoteContainer: 34 } as const;
/** Heading n (1–9) is block type 2 + n, its content under `heading<n>`. */
const HEADING_BASE = 2;

/**
 * Blocks per descendant insert: "单次调用创建嵌套块接口最多可插入 1000 个块" (the SDK's docstring of
 * `docx.v1.document.convert`, quoting the descendant API's page).
 */
export const DESCENDANTS_MAX = 1000;

export interface TextStyle {
  bold?: true;
  italic?: true;
  strikethrough?: true;
  inline_code?: true;
  /** The URL percent-encoded, as docx links are written. */
  link?: { url: string };
}
export interface TextElement {
  text_run: { content: string; text_element_style?: TextStyle };
}
export interface DocBlock {
  block_id: string;
  block_type: number;
  children?: string[];
  [content: string]: unknown;
}
export interface DocTree {
  /** The document's first-level blocks, in order. */
  top: string[];
  byId: Map<string, DocBlock>;
}
export interface DescendantBatch {
  children_id: string[];
  descendants: DocBlock[];
}

/** Code block languages (docx `code.style.language`); anything else is PlainText (1). */
const LANGUAGES: Record<string, number> = {
  bash: 7, sh: 7, csharp: 8, cs: 8, cpp: 9, 'c++': 9, c: 10, css: 12, go: 22, html: 24, json: 28, java: 29, javascript: 30, js: 30,
  kotlin: 32, markdown: 39, md: 39, php: 43, python: 49, py: 49, r: 50, ruby: 52, rust: 53, sql: 56, swift: 61, shell: 60,
  typescript: 63, ts: 63, xml: 66, yaml: 67, yml: 67, diff: 69,
};
const ALIGN: Record<string, number> = { left: 1, center: 2, right: 3 };

/** The Markdown as a block tree. A table that would not fit in one insert is split by rows, each part with the header. */
export function markdownToBlocks(markdown: string, maxBlocks = DESCENDANTS_MAX): DocTree {
  const b = new Builder(maxBlocks);
  const top = b.blocks(new Lexer().lex(markdown));
  return { top, byId: b.byId };
}

/**
 * The tree as descendant inserts of at most `max` blocks each: whole first-level blocks with all their descendants,
 * in document order. A first-level block whose subtree alone is larger goes on its own (and is refused by Feishu).
 */
export function descendantBatches(tree: DocTree, max = DESCENDANTS_MAX): DescendantBatch[] {
  const out: DescendantBatch[] = [];
  let current: DescendantBatch = { children_id: [], descendants: [] };
  for (const id of tree.top) {
    const sub = subtree(tree, id);
    if (current.children_id.length > 0 && current.descendants.length + sub.length > max) {
      out.push(current);
      current = { children_id: [], descendants: [] };
    }
    current.children_id.push(id);
    current.descendants.push(...sub);
  }
  if (current.children_id.length > 0) out.push(current);
  return out;
}

function subtree(tree: DocTree, id: string): DocBlock[] {
  const block = tree.byId.get(id)!;
  return [block, ...(block.children ?? []).flatMap((c) => subtree(tree, c))];
}

class Builder {
  readonly byId = new Map<string, DocBlock>();
  private n = 0;
  constructor(private readonly maxBlocks: number) {}

  blocks(tokens: Token[]): string[] {
    return tokens.flatMap((t) => this.block(t));
  }

  private add(blockType: number, key: string, content: unknown, children?: string[]): string {
    const block_id = `b${++this.n}`;
    this.byId.set(block_id, { block_id, block_type: blockType, [key]: content, ...(children ? { children } : {}) });
    return block_id;
  }

  private text(elements: TextElement[], style?: Record<string, unknown>): string {
    return this.add(BLOCK.text, 'text', { elements: nonEmpty(elements), ...(style ? { style } : {}) });
  }

  private block(t: Token): string[] {
    switch (t.type) {
      case 'space':
      case 'def':
        return [];
      case 'heading': {
        const depth = Math.min(Math.max((t as Tokens.Heading).depth, 1), 9);
        return [this.add(HEADING_BASE + depth, `heading${depth}`, { elements: nonEmpty(inline(t.tokens ?? [])) })];
      }
      case 'paragraph':
        return [this.text(inline(t.tokens ?? []))];
      case 'code': {
        const c = t as Tokens.Code;
        const language = LANGUAGES[(c.lang ?? '').trim().toLowerCase().split(/\s/)[0] ?? ''] ?? 1;
        return [this.add(BLOCK.code, 'code', { style: { language, wrap: true }, elements: [run(c.text)] })];
      }
      case 'blockquote': {
        const children = this.blocks(t.tokens ?? []);
        return [this.add(BLOCK.quoteContainer, 'quote_container', {}, children.length ? children : [this.text([])])];
      }
      case 'list':
        return (t as Tokens.List).items.map((item, i) => this.item(t as Tokens.List, item, i));
      case 'table':
        return this.table(t as Tokens.Table);
      case 'hr':
        return [this.add(BLOCK.divider, 'divider', {})];
      case 'html':
        return t.raw.trim() ? [this.text([run(t.raw.trim())])] : [];
      default:
        return [this.text('tokens' in t && t.tokens ? inline(t.tokens) : [run(t.raw)])];
    }
  }

  /** A list item: its first paragraph is the item's text, anything after (nested lists, more paragraphs) its children. */
  private item(list: Tokens.List, item: Tokens.ListItem, index: number): string {
    const tokens = item.tokens.filter((t) => t.type !== 'checkbox');
    const first = tokens[0]?.type === 'text' || tokens[0]?.type === 'paragraph' ? tokens.shift() : undefined;
    const firstTokens = first && 'tokens' in first ? first.tokens : undefined;
    const elements = nonEmpty(!first ? [] : firstTokens ? inline(firstTokens) : [run(decodeEntities(first.raw))]);
    const children = this.blocks(tokens);
    const kids = children.length ? children : undefined;
    if (item.task) return this.add(BLOCK.todo, 'todo', { elements, style: { done: item.checked === true } }, kids);
    if (!list.ordered) return this.add(BLOCK.bullet, 'bullet', { elements }, kids);
    const start = typeof list.start === 'number' ? list.start : 1;
    return this.add(BLOCK.ordered, 'ordered', { elements, ...(index === 0 && start !== 1 ? { style: { sequence: String(start) } } : {}) }, kids);
  }

  /** Table → TableCell (one per cell, row by row) → Text; the header row marked as such. */
  private table(t: Tokens.Table): string[] {
    const columns = t.header.length;
    const rows = t.rows.map((r) => Array.from({ length: columns }, (_, i) => r[i]));
    // A table is inserted whole: 1 + 2 blocks per cell. Rows beyond one insert's worth go into a further table.
    const rowsPerTable = Math.max(1, Math.floor((this.maxBlocks - 1) / (2 * columns)) - 1);
    const out: string[] = [];
    for (let i = 0; i === 0 || i < rows.length; i += rowsPerTable) {
      const cells = [t.header, ...rows.slice(i, i + rowsPerTable)].flatMap((row) =>
        row.map((cell, c) => {
          const align = ALIGN[t.align[c] ?? ''];
          return this.add(BLOCK.tableCell, 'table_cell', {}, [this.text(cell ? inline(cell.tokens) : [], align ? { align } : undefined)]);
        }),
      );
      out.push(this.add(BLOCK.table, 'table', { property: { row_size: cells.length / columns, column_size: columns, header_row: true } }, cells));
    }
    return out;
  }
}

/** Inline Markdown as text runs: bold, italic, strikethrough, inline code and http(s) links become styles. */
export function inline(tokens: Token[], style: TextStyle = {}): TextElement[] {
  return merge(tokens.flatMap((t) => inlineToken(t, style)));
}

function inlineToken(t: Token, style: TextStyle): TextElement[] {
  switch (t.type) {
    case 'text':
      return 'tokens' in t && t.tokens?.length ? inline(t.tokens, style) : [run(decodeEntities((t as Tokens.Text).text), style)];
    case 'escape':
      return [run((t as Tokens.Escape).text, style)];
    case 'strong':
      return inline(t.tokens ?? [], { ...style, bold: true });
    case 'em':
      return inline(t.tokens ?? [], { ...style, italic: true });
    case 'del':
      return inline(t.tokens ?? [], { ...style, strikethrough: true });
    case 'codespan':
      return [run((t as Tokens.Codespan).text, { ...style, inline_code: true })];
    case 'br':
      return [run('\n', style)];
    case 'link': {
      const l = t as Tokens.Link;
      return inline(l.tokens ?? [], isHttpUrl(l.href) ? { ...style, link: { url: encodeURIComponent(l.href) } } : style);
    }
    case 'image': {
      const img = t as Tokens.Image;
      return [run(img.text || img.href, isHttpUrl(img.href) ? { ...style, link: { url: encodeURIComponent(img.href) } } : style)];
    }
    case 'html':
      return [run(/^<br\s*\/?>$/i.test(t.raw.trim()) ? '\n' : t.raw, style)];
    case 'checkbox':
      return [];
    default:
      return [run(t.raw, style)];
  }
}

function run(content: string, style: TextStyle = {}): TextElement {
  return Object.keys(style).length ? { text_run: { content, text_element_style: { ...style } } } : { text_run: { content } };
}

/** Adjacent runs with the same style as one. */
function merge(elements: TextElement[]): TextElement[] {
  const out: TextElement[] = [];
  for (const e of elements) {
    const last = out.at(-1);
    if (last && JSON.stringify(last.text_run.text_element_style) === JSON.stringify(e.text_run.text_element_style)) {
      out[out.length - 1] = { text_run: { ...last.text_run, content: last.text_run.content + e.text_run.content } };
    } else out.push(e);
  }
  return out;
}

function nonEmpty(elements: TextElement[]): TextElement[] {
  return elements.length ? elements : [run('')];
}

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/** HTML entities in Markdown text (`&amp;`, `&#60;`) as the characters they stand for. */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,6});/gi, (m, e: string) => {
    if (e[0] !== '#') return NAMED[e.toLowerCase()] ?? m;
    const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1));
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : m;
  });
}

/** The plain text of a block's elements, for tests and logs. */
export function elementsText(elements: readonly TextElement[] | undefined): string {
  return (elements ?? []).map((e) => e.text_run?.content ?? '').join('');
}
