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

/** Top-level blocks of a document (headings, paragraphs, lists, tables, code, spacing) with their source text. */
export function blocks(markdown: string): Token[] {
  return new Lexer().lex(markdown);
}
