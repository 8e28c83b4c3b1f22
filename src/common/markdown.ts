import { Lexer, walkTokens, type Token, type Tokens } from 'marked';

const ZWSP = '\u200B';

/**
 * Applies `prose` to the parts of a Markdown document that are prose and `code` to code blocks and inline
 * code spans (by default left exactly as they are). Uses marked's lexer, so the structure comes from a real
 * Markdown parser.
 */
export function mapProse(markdown: string, prose: (text: string) => string, code: (text: string) => string = (c) => c): string {
  const { doc, spans } = locate(markdown, (t) => t.type === 'code' || t.type === 'codespan');
  return replaceSpans(doc, spans, (s) => code(s.source), prose);
}

/** The link policy: a link target is kept only when it is an absolute http(s) URL exactly as written. */
export function isHttpUrl(url: string): boolean {
  return /^https?:\/\/\S/i.test(url);
}

/**
 * The document with every link, image and reference definition whose target is not http(s) reduced to its
 * label text (alt text for images, nothing for definitions), and HTML anchors removed around their text: no
 * `javascript:`, `data:`, app, file, mail or relative link survives, whatever form it was written in. A bare
 * URL or e-mail address stays as the text it is: it hides no target. Code is left alone.
 */
export function keepHttpLinks(markdown: string): string {
  let doc = markdown;
  // A reduced label can itself form a link (`[[x]](javascript:a)(javascript:b)`), hence the passes.
  for (let pass = 0; pass < 5; pass++) {
    const found = locate(doc, breaksLinkPolicy);
    if (found.spans.length === 0 && found.lost === 0) return found.doc;
    doc = replaceSpans(found.doc, found.spans, reduceLink);
    if (found.lost > 0) break;
  }
  // Last resort, for a link whose source could not be found: in a block that still holds one, no `[` or `<`
  // in prose opens anything.
  const inert = (prose: string) => prose.replace(/(?<!\\)((?:\\\\)*)\[/g, '$1\\[').replace(/</g, `<${ZWSP}`);
  return new Lexer()
    .lex(doc)
    .map((block) => (holdsBadLink(block) ? mapProse(block.raw, inert) : block.raw))
    .join('');
}

function holdsBadLink(block: Token): boolean {
  let bad = false;
  walkTokens([block], (t) => void (bad ||= breaksLinkPolicy(t)));
  return bad;
}

const HTML_ANCHOR = /<\/?a(?=[\s/>])[^>]*>/gi;

function breaksLinkPolicy(t: Token): boolean {
  switch (t.type) {
    case 'link':
    case 'image': {
      const bare = t.raw === (t as Tokens.Link).text && !t.raw.startsWith('<');
      return !bare && !isHttpUrl((t as Tokens.Link).href);
    }
    case 'def':
      return !isHttpUrl((t as Tokens.Def).href);
    case 'html':
      return new RegExp(HTML_ANCHOR.source, 'i').test(t.raw);
    default:
      return false;
  }
}

/** What a link that breaks the policy becomes: its label as written in the source (line prefixes included). */
function reduceLink({ token, source }: Span): string {
  if (token.type === 'def') return '';
  if (token.type === 'html') return source.replace(HTML_ANCHOR, '');
  const t = token as Tokens.Link | Tokens.Image;
  if (t.raw.startsWith('<')) return t.text; // <scheme:…> autolink
  // marked's `text` is the label with `\[` and `\]` unescaped: find it as written, escapes included.
  const prefix = t.type === 'image' ? '!\\[' : '\\[';
  return new RegExp(`^${prefix}(${sourcePattern(t.text, true)})`).exec(source)?.[1] ?? t.text;
}

interface Span {
  token: Token;
  /** Offsets in the document. */
  start: number;
  end: number;
  /** The source text, which differs from `token.raw` inside block quotes and list items. */
  source: string;
}

/**
 * Where the tokens that `pick` selects come from in the document. The token tree is walked in order and every
 * leaf is looked for after the previous one, so text that merely looks like a token (in code, escaped) is
 * never taken for it. `lost` counts picked tokens that could not be found. `doc` is the document as the
 * lexer sees it (CR LF normalised), which the offsets refer to.
 */
function locate(markdown: string, pick: (t: Token) => boolean): { doc: string; spans: Span[]; lost: number } {
  const spans: Span[] = [];
  let doc = '';
  let lost = 0;
  for (const block of new Lexer().lex(markdown)) {
    const base = doc.length;
    const src = block.raw;
    doc += src;
    let cursor = 0;
    const visit = (t: Token): void => {
      const picked = pick(t);
      const children = picked ? [] : childrenOf(t);
      if (children.length > 0) return children.forEach(visit);
      const found = find(src, t.raw, cursor);
      if (!found) {
        if (picked) lost++;
        return;
      }
      cursor = found.end;
      if (picked) spans.push({ token: t, start: base + found.start, end: base + found.end, source: src.slice(found.start, found.end) });
    };
    visit(block);
  }
  return { doc, spans, lost };
}

function childrenOf(t: Token): Token[] {
  if (t.type === 'list') return (t as Tokens.List).items;
  if (t.type === 'table') {
    const table = t as Tokens.Table;
    return [...table.header, ...table.rows.flat()].flatMap((cell) => cell.tokens);
  }
  return (t as { tokens?: Token[] }).tokens ?? [];
}

/** `raw` in `src` from `from` on; in block quotes and list items its line breaks may be followed by `>` and indentation. */
function find(src: string, raw: string, from: number): { start: number; end: number } | undefined {
  const at = src.indexOf(raw, from);
  if (at >= 0) return { start: at, end: at + raw.length };
  if (!raw.includes('\n')) return undefined;
  const re = new RegExp(sourcePattern(raw), 'g');
  re.lastIndex = from;
  const m = re.exec(src);
  return m ? { start: m.index, end: m.index + m[0].length } : undefined;
}

/** A pattern for `text` as written in the source: line breaks may be followed by `>` and indentation, brackets escaped. */
function sourcePattern(text: string, escapedBrackets = false): string {
  return Array.from(text, (c) => {
    if (c === '\n') return '\\n[ \\t>]*';
    if (escapedBrackets && (c === '[' || c === ']')) return `\\\\?\\${c}`;
    return c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }).join('');
}

/** The document with each span replaced by `by(span)`, and the text between spans passed through `between`. */
function replaceSpans(doc: string, spans: Span[], by: (s: Span) => string, between: (text: string) => string = (t) => t): string {
  let out = '';
  let at = 0;
  for (const span of spans) {
    out += between(doc.slice(at, span.start)) + by(span);
    at = span.end;
  }
  return out + between(doc.slice(at));
}

/** `text.slice(0, end)`, one shorter when `end` would split a surrogate pair (an emoji, a rare CJK character). */
export function sliceChars(text: string, end: number): string {
  const last = text.charCodeAt(end - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? end - 1 : end);
}

/** Top-level blocks of a document (headings, paragraphs, lists, tables, code, spacing) with their source text. */
export function blocks(markdown: string): Token[] {
  return new Lexer().lex(markdown);
}

/**
 * Splits a Markdown document into parts of at most `max` characters, at block boundaries (preferring a
 * heading), never inside a link, table row or code line. A block larger than `max` is split by its own
 * structure: a code block into several fenced blocks, a table into several tables that repeat the header,
 * a list between items, a paragraph between inline pieces (links stay whole) or at spaces.
 */
export function splitMarkdown(markdown: string, max: number, opts: { maxTables?: number } = {}): string[] {
  const parts: string[] = [];
  let current = '';
  let tables = 0;
  const flush = () => {
    if (current.trim()) parts.push(current.trim());
    current = '';
    tables = 0;
  };
  // A part holds at most `maxTables` tables (Feishu cards refuse a fourth).
  const addTable = () => {
    if (opts.maxTables !== undefined && tables >= opts.maxTables) flush();
    tables++;
  };
  for (const token of blocks(markdown)) {
    if (token.type === 'space') {
      current += token.raw;
      continue;
    }
    const startsSection = token.type === 'heading' && current.length > max * 0.6;
    if (startsSection || current.length + token.raw.length > max) flush();
    if (token.raw.length <= max) {
      if (token.type === 'table') addTable();
      current += token.raw;
      continue;
    }
    for (const piece of splitBlock(token, max)) {
      if (current.length + piece.length > max) flush();
      if (token.type === 'table') addTable();
      current += piece;
    }
  }
  flush();
  return parts;
}

function splitBlock(token: Token, max: number): string[] {
  switch (token.type) {
    case 'code':
      return splitCode(token as Token & { lang?: string; text: string }, max);
    case 'table':
      return splitTable(token.raw, max);
    case 'list':
      return packPieces(
        (token as Token & { items: Token[] }).items.map((i) => i.raw),
        max,
      ).map((p) => `${p.replace(/\n+$/, '')}\n\n`);
    default: {
      const inline = (token as { tokens?: Token[] }).tokens;
      const pieces = inline && inline.length > 1 && inline.map((t) => t.raw).join('') === token.raw ? inline.map((t) => t.raw) : [token.raw];
      return packPieces(pieces.flatMap((p) => (p.length > max ? hardSplit(p, max) : [p])), max).map((p, i, all) => (i < all.length - 1 ? `${p}\n\n` : p));
    }
  }
}

function splitCode(token: { lang?: string; text: string }, max: number): string[] {
  const open = '```' + (token.lang ?? '') + '\n';
  const close = '\n```\n\n';
  const room = max - open.length - close.length;
  const lines = token.text.split('\n').flatMap((l) => (l.length > room ? hardSplit(l, room) : [l]));
  return packPieces(lines.map((l) => `${l}\n`), room).map((body) => open + body.replace(/\n$/, '') + close);
}

function splitTable(raw: string, max: number): string[] {
  const [header = '', delimiter = '', ...rows] = raw.replace(/\n+$/, '').split('\n');
  const head = `${header}\n${delimiter}\n`;
  return packPieces(rows.map((r) => `${r}\n`), max - head.length - 1).map((body) => `${head}${body}\n`);
}

/** Greedily packs pieces into strings of at most `max` characters, in order. */
function packPieces(pieces: string[], max: number): string[] {
  const out: string[] = [];
  let current = '';
  for (const piece of pieces) {
    if (current && current.length + piece.length > max) {
      out.push(current);
      current = '';
    }
    current += piece;
  }
  if (current) out.push(current);
  return out;
}

/** Last resort for one over-long piece of text: cut at a space (or anywhere) below `max`. */
function hardSplit(text: string, max: number): string[] {
  const out: string[] = [];
  let rest = text;
  while (rest.length > max) {
    let cut = rest.lastIndexOf(' ', max);
    if (cut < max / 2) cut = sliceChars(rest, max).length || max;
    out.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  out.push(rest);
  return out;
}
