import { Lexer, walkTokens, type Token } from 'marked';
import { describe, expect, it } from 'vitest';
import { keepHttpLinks } from '../../src/common/markdown.js';
import { buildReport } from '../../src/core/report.js';
import { cardMarkdown } from '../../src/platforms/feishu/escape.js';
import { neutraliseMarkdown } from '../../src/platforms/slack/escape.js';

const TARGETS = [
  'javascript:alert(1)',
  'JaVaScRiPt:alert(1)',
  'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==',
  'vbscript:msgbox(1)',
  'file:///etc/passwd',
  'ftp://evil.example/x',
  'slack://open?team=T1',
  'mailto:boss@evil.example',
  '/relative/path',
  '//evil.example/x',
  'evil.example/x',
  '&#106;avascript:alert(1)',
  'java&#x09;script:alert(1)',
];

/** Every way Markdown can spell a link or an image to `u`. */
const FORMS: Record<string, (u: string) => string> = {
  inline: (u) => `See [click me](${u}) now.`,
  'inline with title': (u) => `See [click me](${u} "title") now.`,
  'angle destination': (u) => `See [click me](<${u}>) now.`,
  'angle destination with a tab': (u) => `See [click me](<${u.replace(':', '\t:')}>) now.`,
  'leading spaces': (u) => `See [click me](   ${u}) now.`,
  'escaped ] in the label': (u) => `See [click\\] me](${u}) now.`,
  '] in the label': (u) => `See [a]b](${u}) now.`,
  'nested brackets': (u) => `See [[click me]](${u}) now.`,
  'code in the label': (u) => `See [\`click me\`](${u}) now.`,
  'full reference': (u) => `See [click me][r] now.\n\n[r]: ${u}`,
  'collapsed reference': (u) => `See [click me][] now.\n\n[click me]: ${u}`,
  'shortcut reference': (u) => `See [click me] now.\n\n[Click Me]: ${u} "t"`,
  autolink: (u) => `See <${u}> now.`,
  image: (u) => `See ![alt text](${u}) now.`,
  'reference image': (u) => `See ![alt text][img] now.\n\n[img]: ${u}`,
  'image in a link': (u) => `See [![alt text](${u})](${u}) now.`,
  'image in a safe link': (u) => `See [![alt text](${u})](https://ok.example/) now.`,
  'label exposing a link': (u) => `See [[x]](${u})(${u}) now.`,
  'pipe in a table cell label': (u) => `[safe](https://ok.example/a)\n\n| a | b |\n| --- | --- |\n| [click \\| me](${u}) | b |`,
  'in a table': (u) => `| a | b |\n| --- | --- |\n| [click me](${u}) | ![alt text](${u}) |`,
  'in a list': (u) => `- one\n- [click\n  me](${u})\n  - [nested](${u})`,
  'in a block quote over two lines': (u) => `> quoted [click\n> me](${u}) and\n> > [deeper](${u})`,
  'in a heading': (u) => `## Heading [click me](${u})`,
  'HTML anchor': (u) => `See <a href="${u}">click me</a> now.`,
  'HTML block': (u) => `<div><a href="${u}">click me</a></div>`,
};

const HOSTILE_TAGS = [
  'Tags <!channel> <!here> <@U123> <#C1|general> <!subteam^S1|@team> <ftp://evil.example|x> <slack://open?team=T1|y> <mailto:a@b.c|z>',
  'Card tags <at id=all></at> <at user_id="all"></at> <font color="red">red</font> <link url="https://evil.example">l</link> <text_tag>t</text_tag>',
  'In code `<at user_id="all"></at>` and `<!channel>` and `&#60;at id=all&#62;&#60;/at&#62;`',
  '```\n<at id=all></at> <!channel> <https://evil.example|x>\n```',
].join('\n\n');

function tokens(markdown: string): Token[] {
  const all: Token[] = [];
  walkTokens(new Lexer().lex(markdown), (t) => void all.push(t));
  return all;
}

/** Links, images and definitions with a target the policy refuses; a bare URL or address hides nothing and may stay. */
function badLinks(markdown: string): string[] {
  return tokens(markdown)
    .filter((t) => {
      if (t.type === 'html') return /<\/?a[\s>]/i.test(t.raw);
      if (t.type !== 'link' && t.type !== 'image' && t.type !== 'def') return false;
      if (t.type === 'link' && t.raw === t.text && !t.raw.startsWith('<')) return false;
      return !/^https?:\/\//i.test((t as { href: string }).href);
    })
    .map((t) => t.raw);
}

/** `<!…>`, `<@…>`, `<#…>` and `<target|label>` or `<target>` of any scheme; a zero-width space after `<` keeps them from forming. */
function slackTokens(markdown: string): string[] {
  return markdown.match(/<[!@#][^>]*>?|<(?!\u200B)[^\s<>]*[|>]/g) ?? [];
}

function cardTags(markdown: string): string[] {
  return markdown.match(/<\s*\/?\s*(at|font|link|text_tag|number_tag|person)\b[^>]*>?/gi) ?? [];
}

function report(answer: string, url = 'https://ok.example/source') {
  return buildReport({
    answer: `# Title\n\n${answer}\n\nCited [[1]] and [[2]].\n\n${HOSTILE_TAGS}`,
    topic: 'topic',
    references: [
      { index: 1, url, title: 'First <javascript:alert(2)>', description: '' },
      { index: 2, url: 'https://ok.example/two', title: 'Second', description: '' },
    ],
  });
}

describe('one link policy: http and https only, for every link form', () => {
  for (const [form, make] of Object.entries(FORMS)) {
    it(`${form}: reduced to its text in the report file, in Slack markdown and in Feishu cards`, () => {
      for (const target of TARGETS) {
        const r = report(make(target), target);
        const slack = neutraliseMarkdown(r.body) + neutraliseMarkdown(r.referencesMarkdown);
        const feishu = cardMarkdown(r.body) + cardMarkdown(r.referencesMarkdown);
        for (const [where, out] of [['file', r.markdown], ['slack', slack], ['feishu', feishu]] as const) {
          expect(badLinks(out), `${where}: ${form} → ${target}\n${out}`).toEqual([]);
        }
        expect(slackTokens(slack), `${form} → ${target}`).toEqual([]);
        expect(cardTags(feishu), `${form} → ${target}`).toEqual([]);
        // The citation of a refused source stays readable, without a link; the other one keeps its link.
        expect(r.body).toContain('Cited \\[1\\] and [\\[2\\]](https://ok.example/two "Second")');
        expect(r.referencesMarkdown).toContain(`1. First`);
        expect(r.referencesMarkdown).toContain('2. [Second](https://ok.example/two)');
      }
    });
  }

  it('keeps the label text where the link was', () => {
    expect(keepHttpLinks('See [click me](javascript:alert(1)) now.')).toBe('See click me now.');
    expect(keepHttpLinks('See [[x]](javascript:a) now.')).toBe('See [x] now.');
    expect(keepHttpLinks('See [click\\] me](data:x) now.')).toBe('See click\\] me now.');
    expect(keepHttpLinks('See [`code`](vbscript:x) now.')).toBe('See `code` now.');
    expect(keepHttpLinks('See ![alt text](data:image/png;base64,AA) now.')).toBe('See alt text now.');
    expect(keepHttpLinks('See <javascript:alert(1)> now.')).toBe('See javascript:alert(1) now.');
    expect(keepHttpLinks('See [x][r] now.\n\n[r]: javascript:alert(1)\n')).toBe('See x now.\n\n');
    expect(keepHttpLinks('See <a href="javascript:x">click me</a> now.')).toBe('See click me now.');
    expect(keepHttpLinks('> quoted [click\n> me](javascript:x)')).toBe('> quoted click\n> me');
    // A link the locator cannot place (marked unescapes `\|` in cells) leaves its block inert, and only that block.
    expect(keepHttpLinks('[safe](https://ok.example/a)\n\n| a |\n| --- |\n| [x \\| y](javascript:x) [ok](https://ok.example/b) |')).toBe(
      '[safe](https://ok.example/a)\n\n| a |\n| --- |\n| \\[x \\| y](javascript:x) \\[ok](https://ok.example/b) |',
    );
  });

  it('leaves http(s) links, bare addresses and code exactly as written', () => {
    const safe = [
      'A [link](https://example.org/a_(b) "t") and ![img](http://example.org/i.png) and <https://example.org>.',
      'Bare https://example.org/x and www.example.org and someone@example.org stay text.',
      '[ref][r]\n\n[r]: https://example.org/r',
      '`[x](javascript:alert(1))` and\n\n```\n[y](data:x) <javascript:z>\n```',
    ].join('\n\n');
    expect(keepHttpLinks(safe)).toBe(safe);
  });

  it('a citation keeps its link only when its source is http(s); the references list shows a refused source as text', () => {
    const r = buildReport({
      answer: 'One [[1]], two [[2]], three [[3]].',
      topic: 't',
      references: [
        { index: 1, url: 'javascript:alert(1)', title: 'Evil', description: '' },
        { index: 2, url: ' https://leading.space', title: '', description: '' },
        { index: 3, url: 'https://ok.example/', title: 'Ends with a backslash \\', description: '' },
      ],
    });
    expect(r.body).toBe('One \\[1\\], two \\[2\\], three [\\[3\\]](https://ok.example/ "Ends with a backslash \\\\").');
    expect(r.referencesMarkdown).toBe('## References\n\n1. Evil\n2. https://leading.space\n3. [Ends with a backslash \\\\](https://ok.example/)\n\n*3 citations, 3 sources.*\n');
    expect(tokens(r.body).filter((t) => t.type === 'link').map((t) => (t as { title?: string }).title)).toEqual(['Ends with a backslash \\']);
  });
});
