import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/ports/logger.js';
import { FeishuApi, toFeishuError } from '../../src/platforms/feishu/api.js';
import { DocxApi } from '../../src/platforms/feishu/docx-api.js';
import type { DescendantBatch } from '../../src/platforms/feishu/docx-blocks.js';
import { APP_ID, APP_SECRET, cardText, DOCX_DESCENDANTS_MAX, FakeDocx, FakeFeishu, type FakeBlock } from '../fakes/feishu.js';
import { docCard, docOf, feishuWorld, text, type FeishuWorld } from './harness.js';

let w: FeishuWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

const rootOf = (event: Record<string, unknown>) => (event.event as { message: { message_id: string } }).message.message_id;

const CJK = ['固态电池的能量密度显著提高，安全性也更好', '硫化物电解质的界面稳定性仍是产业化难题', '量产成本与良率决定了商业化的节奏'];

/**
 * A report of more than 30,000 characters: headings, paragraphs with bold, italic and citations, long lists, tables
 * with CJK cells, a quote and code. With it, the text each block should read as, in order, and the tables.
 */
function bigReport(): { markdown: string; lines: string[]; tables: string[][][] } {
  const md: string[] = [];
  const lines: string[] = [];
  const tables: string[][][] = [];
  const block = (markdown: string, plain: string) => {
    md.push(markdown, '');
    lines.push(plain);
  };
  block('# 固态电池 2026 研究报告', '固态电池 2026 研究报告');
  block('> 摘要：本报告综述固态电池的**进展**与挑战。', '摘要：本报告综述固态电池的进展与挑战。');
  for (let s = 1; md.join('\n').length < 30_500; s++) {
    block(`## 第 ${s} 节 Section ${s}`, `第 ${s} 节 Section ${s}`);
    for (let p = 1; p <= 3; p++) {
      const cite = ((s + p) % 4) + 1;
      block(
        `Paragraph ${s}.${p}：${CJK[(s + p) % 3]}，**bold ${s}.${p}** and *italic* text with a citation [[${cite}]].`,
        `Paragraph ${s}.${p}：${CJK[(s + p) % 3]}，bold ${s}.${p} and italic text with a citation [${cite}].`,
      );
    }
    for (let i = 1; i <= 12; i++) {
      md.push(`- 要点 ${s}.${i}：${CJK[i % 3]}`);
      lines.push(`要点 ${s}.${i}：${CJK[i % 3]}`);
    }
    md.push('');
    if (s % 3 === 1) {
      const rows = [['指标 Metric', '数值 Value', '来源 Source'], ...Array.from({ length: 6 }, (_, r) => [`能量密度 ${s}.${r}`, `${400 + r} Wh/kg`, `实验室 ${r} | lab`])];
      md.push(`| ${rows[0]!.join(' | ')} |`, '| --- | ---: | --- |', ...rows.slice(1).map((r) => `| ${r.map((c) => c.replace('|', '\\|')).join(' | ')} |`), '');
      tables.push(rows);
    }
  }
  block('```ts\nconst capacity = cells.reduce((a, c) => a + c, 0); // 容量\n```', 'const capacity = cells.reduce((a, c) => a + c, 0); // 容量');
  block('## 结论 Conclusion', '结论 Conclusion');
  block('固态电池有望在 2030 年前后进入规模化应用 [[4]].', '固态电池有望在 2030 年前后进入规模化应用 [4].');
  return { markdown: md.join('\n'), lines, tables };
}

/** Finds each line, in order, as the whole text of a block of the document. */
function expectLinesInOrder(blocks: FakeBlock[], lines: string[]): void {
  const texts = blocks.map((b) => FakeDocx.text(b));
  let at = 0;
  for (const line of lines) {
    const found = texts.indexOf(line, at);
    expect(found, `line not in the document (after block ${at}): ${line}`).toBeGreaterThanOrEqual(0);
    at = found + 1;
  }
}

/** Every link in a document's text runs, decoded. */
function links(blocks: FakeBlock[]): string[] {
  return blocks.flatMap((b) =>
    Object.values(b).flatMap((v) =>
      ((v as { elements?: { text_run?: { text_element_style?: { link?: { url: string } } } }[] } | undefined)?.elements ?? []).flatMap((e) => {
        const url = e.text_run?.text_element_style?.link?.url;
        return url ? [decodeURIComponent(url)] : [];
      }),
    ),
  );
}

async function research(world: FeishuWorld, topic: string): Promise<string> {
  const event = world.feishu.userMessage({ text: topic, mentionBot: true });
  await world.deliver(event);
  return rootOf(event);
}

describe('the report as a Feishu document', () => {
  it('a 30,000-character report with tables and CJK text lands whole in a document the chat can read, linked in the thread', async () => {
    w = await feishuWorld({ SKIP_CLARIFICATION: 'true' });
    const report = bigReport();
    expect(report.markdown.length).toBeGreaterThan(30_000);
    w.ds.script = { ...w.ds.script, report: report.markdown, chunk: 3000 };
    const root = await research(w, '固态电池');
    await expect.poll(() => docCard(w!, root), { timeout: 30_000 }).toBeDefined();
    const card = docCard(w, root)!;
    const id = docOf(w, card);
    const doc = w.feishu.docx.docs.get(id)!;
    expect(doc.title).toBe('固态电池 2026 研究报告');
    expect(doc.folder_token).toBeUndefined();
    // Inserted in batches, each within Feishu's limit, none refused.
    expect(doc.inserts.length).toBeGreaterThanOrEqual(2);
    for (const n of doc.inserts) expect(n).toBeLessThanOrEqual(DOCX_DESCENDANTS_MAX);
    expect(w.feishu.refused).toEqual([]);
    // Every line, in order; every table with its rows and cells.
    const blocks = w.feishu.docx.blocksOf(id);
    // The topic is Chinese, so the references and the footer are too.
    expectLinesInOrder(blocks, [...report.lines, '参考资料', 'Source 1', 'Source 4']);
    expect(FakeDocx.text(blocks.at(-1)!)).toMatch(/^引用了 4 个来源中的 4 个/);
    expect(w.feishu.docx.tablesOf(id)).toEqual(report.tables);
    expect(blocks.filter((b) => b.block_type === 3)).toHaveLength(1);
    expect(blocks.some((b) => b.block_type === 14 && FakeDocx.text(b).includes('// 容量'))).toBe(true);
    expect(blocks.some((b) => b.block_type === 34)).toBe(true);
    // Citations and references link to their sources, and nothing but http(s).
    const urls = links(blocks);
    expect(urls).toContain('https://example.org/source-1');
    expect(urls.every((u) => /^https?:\/\//.test(u))).toBe(true);
    // The chat can read it; the link is not opened to the tenant.
    expect(doc.members).toEqual([{ member_type: 'openchat', member_id: 'oc_group', perm: 'view', type: 'chat', need_notification: 'false' }]);
    expect(doc.public.link_share_entity).toBe('closed');
    // The thread: the file, then the card linking the document (its URL from drive meta), the title as plain text.
    const thread = w.feishu.thread(root);
    expect(thread.findIndex((m) => m.msg_type === 'file')).toBeLessThan(thread.indexOf(card));
    expect(JSON.stringify(card.content)).toContain(`"default_url":"https://fake-tenant.feishu.cn/docx/${id}"`);
    expect(text(card)).toContain('本群成员均可阅读');
    expect(w.feishu.files.size).toBe(1);
  }, 40_000);

  it('FEISHU_DOC_SHARE=tenant opens the link to the organisation; the document goes in FEISHU_DOC_FOLDER_TOKEN', async () => {
    w = await feishuWorld({ SKIP_CLARIFICATION: 'true', FEISHU_DOC_SHARE: 'tenant', FEISHU_DOC_FOLDER_TOKEN: 'fldcnReports01' });
    const root = await research(w, 'AI in education');
    await expect.poll(() => docCard(w!, root), { timeout: 15_000 }).toBeDefined();
    const doc = w.feishu.docx.docs.get(docOf(w, docCard(w, root)!))!;
    expect(doc.public.link_share_entity).toBe('tenant_readable');
    expect(doc.members).toEqual([]);
    expect(doc.folder_token).toBe('fldcnReports01');
    expect(text(docCard(w, root)!)).toContain('anyone in the organisation who has the link');
    expect(w.feishu.refused).toEqual([]);
  }, 20_000);

  it('without the docx scopes the .md file is the copy, and the thread is told so once per tenant', async () => {
    w = await feishuWorld({ SKIP_CLARIFICATION: 'true' }, { fake: (f) => (f.docx.refuseDocx = true) });
    const notices = () =>
      [...w!.feishu.messages.values()].filter((m) => m.msg_type === 'interactive' && cardText(m.content).includes('could not also be created as a Feishu document'));
    const first = await research(w, 'first topic');
    await expect.poll(() => notices().length, { timeout: 30_000 }).toBe(1);
    expect(notices()[0]!.root_id).toBe(first);
    expect(cardText(notices()[0]!.content)).toContain('docx:document');
    expect(w.feishu.thread(first).filter((m) => m.msg_type === 'file')).toHaveLength(1);
    // The notice follows the file it names as the copy.
    expect(w.feishu.thread(first).at(-1)).toBe(notices()[0]);
    const second = await research(w, 'second topic');
    await expect.poll(() => w!.feishu.thread(second).filter((m) => m.msg_type === 'file').length, { timeout: 30_000 }).toBe(1);
    // The second run is over (its delivery included) when nothing runs any more: still the one notice.
    await expect.poll(() => w!.bot.engine.load().running, { timeout: 30_000 }).toBe(0);
    expect(notices()).toHaveLength(1);
    // The second report did not try again: one refused create in all.
    expect(w.feishu.refused.filter((r) => r.path.startsWith('/open-apis/docx/'))).toEqual([{ path: '/open-apis/docx/v1/documents', code: 99991672 }]);
    expect(docCard(w, first)).toBeUndefined();
    expect(docCard(w, second)).toBeUndefined();
  }, 90_000);

  it('without the drive scope (the document cannot be shared) the thread is told the same', async () => {
    w = await feishuWorld({ SKIP_CLARIFICATION: 'true' }, { fake: (f) => (f.docx.refuseDrive = true) });
    const root = await research(w, 'a topic');
    await expect.poll(() => w!.feishu.thread(root).some((m) => m.msg_type === 'interactive' && cardText(m.content).includes('drive:drive')), { timeout: 15_000 }).toBe(true);
    expect(docCard(w, root)).toBeUndefined();
    expect(w.feishu.files.size).toBe(1);
  }, 20_000);
});

describe('the fake docx API, as documented', () => {
  let feishu: FakeFeishu;
  afterEach(() => feishu?.close());

  const setup = async () => {
    feishu = await new FakeFeishu().start();
    const api = new FeishuApi({ appId: APP_ID, appSecret: APP_SECRET, domain: feishu.url }, silentLogger);
    return new DocxApi(api);
  };
  const para = (id: string) => ({ block_id: id, block_type: 2, text: { elements: [{ text_run: { content: id } }] } });
  const refusal = (p: Promise<unknown>) => p.then(() => undefined, (err: unknown) => toFeishuError(err).code);

  it('refuses a batch over 1000 blocks, a table cell without a child and a table with merge_info; a repeated client_token inserts once', async () => {
    const docx = await setup();
    const id = await docx.create('t');
    const insert = (batch: { children_id: string[]; descendants: Record<string, unknown>[] }, index: number, token: string) => docx.insert(id, batch as DescendantBatch, index, token);
    const many = Array.from({ length: DOCX_DESCENDANTS_MAX + 1 }, (_, i) => para(`p${i}`));
    expect(await refusal(insert({ children_id: many.map((b) => b.block_id), descendants: many }, 0, 'c1'))).toBe(1770001);
    const table = (property: Record<string, unknown>, cell: Record<string, unknown>) => ({ children_id: ['t'], descendants: [{ block_id: 't', block_type: 31, table: { property }, children: ['c'] }, cell] });
    expect(await refusal(insert(table({ row_size: 1, column_size: 1 }, { block_id: 'c', block_type: 32, table_cell: {} }), 0, 'c2'))).toBe(1770001);
    const withText = [{ block_id: 'c', block_type: 32, table_cell: {}, children: ['x'] }, para('x')];
    const ok = { children_id: ['t'], descendants: [{ block_id: 't', block_type: 31, table: { property: { row_size: 1, column_size: 1 } }, children: ['c'] }, ...withText] };
    const merged = { ...ok, descendants: [{ ...ok.descendants[0]!, table: { property: { row_size: 1, column_size: 1, merge_info: [{ row_span: 1, col_span: 1 }] } } }, ...withText] };
    expect(await refusal(insert(merged, 0, 'c3'))).toBe(1770001);
    const exactly = many.slice(0, DOCX_DESCENDANTS_MAX);
    await insert({ children_id: exactly.map((b) => b.block_id), descendants: exactly }, 0, 'c4');
    await insert({ children_id: exactly.map((b) => b.block_id), descendants: exactly }, 0, 'c4');
    await insert(ok, DOCX_DESCENDANTS_MAX, 'c5');
    expect(feishu.docx.docs.get(id)!.inserts).toEqual([DOCX_DESCENDANTS_MAX, 3]);
    expect(feishu.docx.tablesOf(id)).toEqual([[['x']]]);
  }, 20_000);
});
