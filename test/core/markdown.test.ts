import { describe, expect, it } from 'vitest';
import { mapProse, splitMarkdown } from '../../src/common/markdown.js';
import { clip } from '../../src/core/progress-text.js';
import { buildReport, slug } from '../../src/core/report.js';
import { sampleReport } from '../fakes/dashscope-script.js';

const bigTable = ['| # | value |', '| --- | --- |', ...Array.from({ length: 400 }, (_, i) => `| ${i} | row ${i} with [a link](https://example.org/${i}) |`)].join('\n');
const bigCode = ['```python', ...Array.from({ length: 600 }, (_, i) => `print("line ${i}")  # some code`), '```'].join('\n');
const longParagraph = Array.from({ length: 300 }, (_, i) => `Sentence ${i} cites [source ${i}](https://example.org/p/${i}).`).join(' ');
const doc = [sampleReport(40, 5), bigTable, bigCode, longParagraph, '## The end', 'Bye.'].join('\n\n');

describe('splitMarkdown', () => {
  const parts = splitMarkdown(doc, 11_000);

  it('keeps every part within the limit and loses nothing', () => {
    expect(doc.length).toBeGreaterThan(60_000);
    expect(parts.length).toBeGreaterThan(5);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(11_000);
    const joined = parts.join('\n');
    for (const line of doc.split('\n')) if (line.trim() && !line.startsWith('```')) expect(joined).toContain(line.trim().slice(0, 80));
    for (let i = 0; i < 400; i++) expect(joined).toContain(`| ${i} | row ${i} with [a link](https://example.org/${i}) |`);
    for (let i = 0; i < 300; i++) expect(joined).toContain(`[source ${i}](https://example.org/p/${i})`);
  });

  it('never leaves a code fence open or a table without its header', () => {
    for (const p of parts) {
      expect((p.match(/^```/gm) ?? []).length % 2, p.slice(0, 80)).toBe(0);
      const firstRow = p.split('\n').find((l) => l.startsWith('| '));
      if (firstRow && /\| \d+ \| row/.test(p)) expect(p).toContain('| # | value |\n| --- | --- |');
    }
  });

  it('prefers to start a part at a heading', () => {
    const starts = parts.map((p) => p.split('\n')[0]!);
    expect(starts.filter((s) => s.startsWith('#')).length).toBeGreaterThan(1);
  });
});

describe('report', () => {
  it('links [[n]] and [[n,m]] citations, keeps unknown ones readable, and leaves code alone', () => {
    const answer = '# Title\n\nA [[1]] and [[1,2]] and [[9]].\n\n`[[1]]` stays.\n\n```\n[[2]]\n```';
    const r = buildReport({
      answer,
      topic: 't',
      references: [
        { index: 2, url: 'https://b.example/x_(y)', title: 'B', description: '' },
        { index: 1, url: 'https://a.example/', title: 'A "quoted"', description: '' },
      ],
    });
    expect(r.title).toBe('Title');
    expect(r.body).toContain(`A [\\[1\\]](https://a.example/ "A 'quoted'") and [\\[1\\]](https://a.example/ "A 'quoted'")[\\[2\\]](https://b.example/x_%28y%29 "B") and \\[9\\].`);
    expect(r.body).toContain('`[[1]]` stays.');
    expect(r.body).toContain('```\n[[2]]\n```');
    expect(r.referencesMarkdown).toBe('## References\n\n1. [A "quoted"](https://a.example/)\n2. [B](https://b.example/x_%28y%29)\n\n*3 citations, 2 sources.*\n');
    expect(r.check).toMatchObject({ cited: 3, sources: 2, unknown: [9] });
    expect(r.markdown.endsWith(r.referencesMarkdown)).toBe(true);
    expect(r.wordCount).toBeGreaterThan(5);
  });

  it('mapProse leaves inline code and code blocks untouched', () => {
    expect(mapProse('a <b> `<c>`\n\n```\n<d>\n```\n', (t) => t.replace(/</g, '&lt;'))).toBe('a &lt;b> `<c>`\n\n```\n<d>\n```\n');
  });

  it('mapProse can map code on its own, even in a block quote', () => {
    const md = '> a <b> `<c>\n> d`\n\n```\n<e>\n```\n';
    expect(mapProse(md, (t) => t.replace(/</g, '&lt;'), (c) => c.replace(/</g, '<!'))).toBe('> a &lt;b> `<!c>\n> d`\n\n```\n<!e>\n```\n');
  });
});

/** No lone surrogate (String.prototype.isWellFormed is newer than the ES2022 lib). */
const wellFormed = (s: string) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

describe('cutting text never splits a surrogate pair', () => {
  it('clip', () => {
    for (let max = 2; max < 12; max++) {
      const out = clip('ab😀cd😀😀ef𠮷gh', max);
      expect(wellFormed(out), out).toBe(true);
      expect(out.length).toBeLessThanOrEqual(max);
    }
  });

  it('slug', () => {
    const s = slug(`${'a'.repeat(59)}𠮷𠮷 more`);
    expect(wellFormed(s)).toBe(true);
    expect(s).toBe('a'.repeat(59));
    expect(slug('研究 𠮷野家 2026')).toBe('研究-𠮷野家-2026');
  });

  it('splitMarkdown of text without spaces', () => {
    const text = 'x' + '😀'.repeat(300);
    const parts = splitMarkdown(text, 51);
    expect(parts.length).toBeGreaterThan(5);
    for (const p of parts) expect(wellFormed(p)).toBe(true);
    expect(parts.join('')).toBe(text);
  });
});
