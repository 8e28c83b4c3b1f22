import { Lexer, walkTokens, type Token } from 'marked';

/**
 * Applies `f` to the parts of a Markdown document that are prose: code blocks and inline code spans are
 * left exactly as they are. Uses marked's lexer, so the structure comes from a real Markdown parser.
 */
export function mapProse(markdown: string, f: (text: string) => string): string {
  const tokens = new Lexer().lex(markdown);
  let out = '';
  for (const token of tokens) {
    if (token.type === 'code') {
      out += token.raw;
      continue;
    }
    const spans: string[] = [];
    walkTokens([token], (t: Token) => {
      if (t.type === 'codespan') spans.push(t.raw);
    });
    let rest = token.raw;
    for (const span of spans) {
      const at = rest.indexOf(span);
      if (at < 0) continue;
      out += f(rest.slice(0, at)) + span;
      rest = rest.slice(at + span.length);
    }
    out += f(rest);
  }
  return out;
}

/** Prose with every Markdown link whose target is not http(s) reduced to its label (no `javascript:`, app or file links). */
export function keepHttpLinks(prose: string): string {
  return prose.replace(/\[([^\]]*)\]\((?!https?:\/\/)[^)]*\)/gi, '$1');
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
    if (cut < max / 2) cut = max;
    out.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  out.push(rest);
  return out;
}
