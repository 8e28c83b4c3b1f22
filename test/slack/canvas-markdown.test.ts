import { describe, expect, it } from 'vitest';
import { buildReport } from '../../src/core/report.js';
import { CANVAS_MARKDOWN_MAX, canvasMarkdown } from '../../src/platforms/slack/canvas-markdown.js';
import { reportParts } from '../../src/platforms/slack/report-parts.js';

const ZWSP = '\u200B';

describe('canvas Markdown', () => {
  it('keeps what canvases support as written: headings h1–h3, lists, checklists, quotes, tables, code, dividers, emphasis', () => {
    const md = [
      '# Title',
      '',
      '## Section',
      '',
      '### Sub',
      '',
      '- one **bold** and *italic* and ~~gone~~',
      '- two `code`',
      '',
      '1. first',
      '2. second',
      '',
      '- [ ] todo',
      '- [x] done',
      '',
      '> a quote',
      '',
      '| a | b |',
      '| :-- | --: |',
      '| 1 | 2 |',
      '',
      '---',
      '',
      '```ts',
      'const x = 1;',
      '```',
      '',
      'See [docs](https://example.com/a_b) :tada:',
    ].join('\n');
    expect(canvasMarkdown(md)).toBe(`${md}\n`);
  });

  it('turns h4–h6 and setext headings into what canvases have', () => {
    expect(canvasMarkdown('#### Four\n\n##### Five **x**\n\nTitle\n=====\n\nSub\n---\n')).toBe('**Four**\n\nFive **x**\n\n# Title\n\n## Sub\n');
  });

  it('drops link titles, links images, writes citations as [[n](url)] and autolinks as links', () => {
    const out = canvasMarkdown('A [\\[1\\]](https://e.org/1 "Source one")[\\[2\\]](https://e.org/2 "Two") and [x](https://e.org/x \'t\') ![chart](https://e.org/c.png) ![](https://e.org/d.png) <https://e.org/auto>');
    expect(out).toBe('A [[1](https://e.org/1)][[2](https://e.org/2)] and [x](https://e.org/x) [chart](https://e.org/c.png) [image](https://e.org/d.png) [https://e.org/auto](https://e.org/auto)\n');
  });

  it('turns HTML into Markdown or text, never dropping text; <br> in a table keeps the row whole', () => {
    expect(canvasMarkdown('a<br>b <b>bold</b> <em>it</em> <del>x</del> H<sub>2</sub>O 10<sup>3</sup> <span style="c">s</span>')).toBe('a\nb **bold** *it* ~~x~~ H2O 103 s\n');
    expect(canvasMarkdown('| a | b |\n| - | - |\n| x<br/>y | z |')).toBe('| a | b |\n| - | - |\n| x / y | z |\n');
    // Anything else stays visible as text, unable to form a tag or token.
    expect(canvasMarkdown('<script>alert(1)</script> List<String>')).toBe(`<${ZWSP}script>alert(1)<${ZWSP}/script> List<${ZWSP}String>\n`);
  });

  it('lets no Slack token, mention or non-http link form, in prose or code; canvas mention images cannot form either', () => {
    const out = canvasMarkdown('Hi <!channel> <@U1> <#C1> <!subteam^S1|@t> <https://evil.example|nice> @here [a](javascript:alert(1)) ![](@U123) ![](#C123)\n\n```\n<!here>\n```');
    for (const token of ['<!channel>', '<@U1>', '<#C1>', '<!subteam', '<https://evil', '@here', 'javascript:', '](@U123)', '](#C123)', '<!here>']) expect(out, token).not.toContain(token);
    expect(out).toContain('nice');
    expect(out).toContain(`<${ZWSP}!here>`);
  });

  it('leaves code alone (but for token-breaking): indented and ~~~ code become fenced, with a fence longer than any backticks inside', () => {
    expect(canvasMarkdown('Text\n\n    indented <b>\n\n~~~\nuses ``` inside\n~~~\n')).toBe(`Text\n\n\`\`\`\nindented <${ZWSP}b>\n\`\`\`\n\n\`\`\`\`\nuses \`\`\` inside\n\`\`\`\`\n`);
    expect(canvasMarkdown('- item `<br>` and `#### x`')).toBe(`- item \`<${ZWSP}br>\` and \`#### x\`\n`);
  });

  it('keeps Chinese text and tables whole', () => {
    const md = '## 结论\n\n数据质量是关键 [\\[1\\]](https://e.org/1 "来源")。\n\n| 系统 | 效果 |\n| --- | --- |\n| 甲 | 提高 12% |';
    expect(canvasMarkdown(md)).toBe('## 结论\n\n数据质量是关键 [[1](https://e.org/1)]。\n\n| 系统 | 效果 |\n| --- | --- |\n| 甲 | 提高 12% |\n');
  });

  it('cuts a report over the canvas cap at a line, saying the .md file has it all', () => {
    const out = canvasMarkdown('```\n' + 'x'.repeat(99) + '\n'.repeat(1) + ('line of text\n'.repeat(90_000)) + '```');
    expect(out.length).toBeLessThanOrEqual(CANVAS_MARKDOWN_MAX);
    expect(out).toMatch(/`\.md` file in the thread has all of it\.\*\n$/);
    expect((out.match(/^```/gm) ?? []).length % 2).toBe(0);
  });

  it('is the part after the references, the same for the same report, with the title and the whole report', () => {
    const report = buildReport({ answer: '# T <!here>\n\nBody [[1]].', references: [{ index: 1, url: 'https://e.org/1', title: 'One', description: '' }], topic: 't' });
    const parts = reportParts(report, 'zh');
    expect(parts.map((p) => p.label)).toEqual(['report 1/1', 'references', 'canvas', 'file t-here.md']);
    expect(parts[2]).toMatchObject({ kind: 'canvas', title: `T <${ZWSP}!here>`, lang: 'zh' });
    expect(reportParts(report, 'zh')).toEqual(parts);
    const canvas = parts[2] as { markdown: string };
    expect(canvas.markdown).toContain('Body [[1](https://e.org/1)].');
    expect(canvas.markdown).toContain('1. [One](https://e.org/1)');
  });
});
