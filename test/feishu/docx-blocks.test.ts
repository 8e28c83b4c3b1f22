import { describe, expect, it } from 'vitest';
import { BLOCK, decodeEntities, descendantBatches, DESCENDANTS_MAX, elementsText, markdownToBlocks, type DocBlock, type DocTree, type TextElement } from '../../src/platforms/feishu/docx-blocks.js';

const tree = (md: string, max?: number) => markdownToBlocks(md, max);
const top = (t: DocTree): DocBlock[] => t.top.map((id) => t.byId.get(id)!);
const kids = (t: DocTree, b: DocBlock): DocBlock[] => (b.children ?? []).map((id) => t.byId.get(id)!);
const elements = (b: DocBlock): TextElement[] => (Object.values(b).find((v) => v && typeof v === 'object' && 'elements' in (v as object)) as { elements: TextElement[] }).elements;
const text = (b: DocBlock) => elementsText(elements(b));

describe('Markdown as docx blocks', () => {
  it('headings, paragraphs, a divider and code, each as its block type', () => {
    const t = tree('# Title\n\n## Section\n\n###### Small\n\nA paragraph.\n\n---\n\n```py\nprint(1 < 2)\nx = "<at id=all>"\n```\n\n```\nplain\n```');
    const blocks = top(t);
    expect(blocks.map((b) => b.block_type)).toEqual([3, 4, 8, BLOCK.text, BLOCK.divider, BLOCK.code, BLOCK.code]);
    expect(blocks[0]).toMatchObject({ heading1: { elements: [{ text_run: { content: 'Title' } }] } });
    expect(blocks[2]).toHaveProperty('heading6');
    expect(text(blocks[3]!)).toBe('A paragraph.');
    expect(blocks[4]).toMatchObject({ divider: {} });
    expect(blocks[5]).toMatchObject({ code: { style: { language: 49, wrap: true }, elements: [{ text_run: { content: 'print(1 < 2)\nx = "<at id=all>"' } }] } });
    expect(blocks[6]).toMatchObject({ code: { style: { language: 1 } } });
    // Every block has a unique temporary id.
    expect(new Set(t.byId.keys()).size).toBe(t.byId.size);
  });

  it('inline styles become text runs: bold, italic, strikethrough, inline code, http(s) links percent-encoded', () => {
    const [p] = top(tree('Plain **bold _both_** *it* ~~gone~~ `a<b` [site](https://example.org/a?b=1&c=2 "t") [\\[1\\]](https://x.example/p(1)) end'));
    expect(elements(p!)).toEqual([
      { text_run: { content: 'Plain ' } },
      { text_run: { content: 'bold ', text_element_style: { bold: true } } },
      { text_run: { content: 'both', text_element_style: { bold: true, italic: true } } },
      { text_run: { content: ' ' } },
      { text_run: { content: 'it', text_element_style: { italic: true } } },
      { text_run: { content: ' ' } },
      { text_run: { content: 'gone', text_element_style: { strikethrough: true } } },
      { text_run: { content: ' ' } },
      { text_run: { content: 'a<b', text_element_style: { inline_code: true } } },
      { text_run: { content: ' ' } },
      { text_run: { content: 'site', text_element_style: { link: { url: 'https%3A%2F%2Fexample.org%2Fa%3Fb%3D1%26c%3D2' } } } },
      { text_run: { content: ' ' } },
      { text_run: { content: '[1]', text_element_style: { link: { url: encodeURIComponent('https://x.example/p(1)') } } } },
      { text_run: { content: ' end' } },
    ]);
  });

  it('keeps only http(s) links; markup of any kind stays text', () => {
    const [p, q] = top(tree('[run](javascript:alert(1)) [mail](mailto:a@b.c) ![pic](https://img.example/x.png) <at id=all></at> <font color="red">red</font> &lt;b&gt; AT&amp;T &#60;x&#x3e;\n\n<div onclick="x()">block html</div>'));
    const runs = elements(p!);
    expect(runs.filter((r) => r.text_run.text_element_style?.link).map((r) => decodeURIComponent(r.text_run.text_element_style!.link!.url))).toEqual(['https://img.example/x.png']);
    expect(text(p!)).toBe('run mail pic <at id=all></at> <font color="red">red</font> <b> AT&T <x>');
    expect(text(q!)).toBe('<div onclick="x()">block html</div>');
    expect(q!.block_type).toBe(BLOCK.text);
  });

  it('lists: bullets, ordered from their start, tasks, nested items as children', () => {
    const t = tree('- one\n- two **b**\n  - nested\n    1. deep\n\n3. three\n4. four\n\n- [x] done\n- [ ] todo');
    const blocks = top(t);
    expect(blocks.map((b) => b.block_type)).toEqual([BLOCK.bullet, BLOCK.bullet, BLOCK.ordered, BLOCK.ordered, BLOCK.todo, BLOCK.todo]);
    expect(blocks.map(text)).toEqual(['one', 'two b', 'three', 'four', 'done', 'todo']);
    const nested = kids(t, blocks[1]!);
    expect(nested.map((b) => [b.block_type, text(b)])).toEqual([[BLOCK.bullet, 'nested']]);
    expect(kids(t, nested[0]!).map((b) => [b.block_type, text(b)])).toEqual([[BLOCK.ordered, 'deep']]);
    expect(blocks[2]).toMatchObject({ ordered: { style: { sequence: '3' } } });
    expect(blocks[3]!.ordered).not.toHaveProperty('style');
    expect(blocks[4]).toMatchObject({ todo: { style: { done: true } } });
    expect(blocks[5]).toMatchObject({ todo: { style: { done: false } } });
    expect(blocks[0]!.children).toBeUndefined();
  });

  it('a quote is a quote container holding its blocks', () => {
    const t = tree('> first **line**\n> same paragraph\n>\n> - item');
    const [q] = top(t);
    expect(q).toMatchObject({ block_type: BLOCK.quoteContainer, quote_container: {} });
    expect(kids(t, q!).map((b) => [b.block_type, text(b)])).toEqual([
      [BLOCK.text, 'first line\nsame paragraph'],
      [BLOCK.bullet, 'item'],
    ]);
  });

  it('a table is Table → TableCell → Text, row by row with the header first, cells intact', () => {
    const t = tree('| 指标 | Value | Note |\n|:--|--:|:-:|\n| 能量密度 | **400** Wh/kg | a \\| b |\n| 成本 |  | [src](https://s.example) |');
    const [table] = top(t);
    expect(table).toMatchObject({ block_type: BLOCK.table, table: { property: { row_size: 3, column_size: 3, header_row: true } } });
    expect(JSON.stringify(table)).not.toContain('merge_info');
    const cells = kids(t, table!);
    expect(cells).toHaveLength(9);
    expect(cells.every((c) => c.block_type === BLOCK.tableCell && c.children?.length === 1)).toBe(true);
    const texts = cells.map((c) => kids(t, c)[0]!);
    expect(texts.map(text)).toEqual(['指标', 'Value', 'Note', '能量密度', '400 Wh/kg', 'a | b', '成本', '', 'src']);
    expect(texts.map((x) => (x.text as { style?: { align: number } }).style?.align)).toEqual([1, 3, 2, 1, 3, 2, 1, 3, 2]);
    // An empty cell still has its (empty) text block.
    expect(elements(texts[7]!)).toEqual([{ text_run: { content: '' } }]);
  });

  it('a table too large for one insert is split by rows, each part with the header', () => {
    const rows = Array.from({ length: 30 }, (_, i) => `| r${i} | v${i} |`).join('\n');
    const t = tree(`| K | V |\n| --- | --- |\n${rows}`, 41);
    const tables = top(t);
    expect(tables.length).toBeGreaterThan(1);
    const all: string[][] = [];
    for (const table of tables) {
      const size = 1 + (table.children?.length ?? 0) * 2;
      expect(size).toBeLessThanOrEqual(41);
      const cells = kids(t, table).map((c) => text(kids(t, c)[0]!));
      expect(cells.slice(0, 2)).toEqual(['K', 'V']);
      for (let i = 2; i < cells.length; i += 2) all.push(cells.slice(i, i + 2));
    }
    expect(all).toEqual(Array.from({ length: 30 }, (_, i) => [`r${i}`, `v${i}`]));
  });

  it('batches: whole first-level blocks with their descendants, in order, each within the limit', () => {
    const table = `| a | b |\n| --- | --- |\n${'| x | y |\n'.repeat(20)}`;
    const md = Array.from({ length: 60 }, (_, i) => `## H${i}\n\nParagraph ${i}.\n\n- item ${i}\n  - sub ${i}\n\n${i % 10 === 0 ? table : ''}`).join('\n');
    const t = tree(md);
    const batches = descendantBatches(t, 100);
    expect(batches.length).toBeGreaterThan(3);
    for (const b of batches) {
      expect(b.descendants.length).toBeLessThanOrEqual(100);
      // Every child a batch names is in the same batch.
      const ids = new Set(b.descendants.map((d) => d.block_id));
      for (const d of b.descendants) for (const c of d.children ?? []) expect(ids.has(c)).toBe(true);
      for (const c of b.children_id) expect(ids.has(c)).toBe(true);
    }
    expect(batches.flatMap((b) => b.children_id)).toEqual(t.top);
    expect(batches.flatMap((b) => b.descendants.map((d) => d.block_id)).sort()).toEqual([...t.byId.keys()].sort());
    expect(descendantBatches(t)).toHaveLength(1);
    expect(DESCENDANTS_MAX).toBe(1000);
  });

  it('decodes HTML entities, and leaves what is not one', () => {
    expect(decodeEntities('AT&amp;T &lt;b&gt; &#20013;&#x6587; &bogus; & &#xFFFFFFF;')).toBe('AT&T <b> 中文 &bogus; & &#xFFFFFFF;');
  });
});
