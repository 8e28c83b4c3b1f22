import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../core/harness.js';
import { defaultReferences } from '../fakes/dashscope-script.js';
import { docCard, docOf, feishuWorld, text, type FeishuWorld } from '../feishu/harness.js';
import { mentionEvent, nextTs, slackWorld, visible, type SlackWorld } from '../slack/harness.js';

const FLAG = 'not among the visited sources';
/** Five sources cited; the research's last round visited the first four; the fifth it never opened. */
const GHOST = { url: 'https://never-visited.example/claim', title: 'Ghost source' };
const REPORT = '# Battery report\n\nA claim [[1]], another [[2]] and one from nowhere [[5]].\n';

let w: SlackWorld | FeishuWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

describe('a source the research never visited is flagged wherever the report goes', () => {
  it('Slack: the references message, the .md file and the report page', async () => {
    const port = await freePort();
    const s = await slackWorld({ SKIP_CLARIFICATION: 'true', PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` });
    w = s;
    Object.assign(s.ds.script, { references: [...defaultReferences(4), GHOST], report: REPORT });
    const ts = nextTs();
    await s.slack.sendEvent(s.endpoint, mentionEvent('topic', { ts }));
    await expect.poll(() => s.slack.files.length, { timeout: 15_000 }).toBe(1);
    const thread = s.slack.thread('C1', ts).map(visible).join('\n');
    expect(thread).toContain(`5. [Ghost source](https://never-visited.example/claim) ⚠️ *${FLAG}*`);
    expect(thread).toContain('1 not among them (marked)');
    const file = s.slack.files[0]!.content.toString();
    expect(file).toContain(`5. [Ghost source](https://never-visited.example/claim) ⚠️ *${FLAG}*`);
    expect(file).not.toMatch(/1\. \[Source 1\][^\n]*visited sources/);
    const page = thread.match(/http:\/\/127\.0\.0\.1:\d+\/reports\/[A-Za-z0-9_-]{22}/)![0];
    const html = await (await fetch(page)).text();
    expect(html).toMatch(/id="ref-5"[^\n]*⚠️ not among the visited sources/);
    expect(html).not.toMatch(/id="ref-1"[^\n]*not among the visited sources/);
  });

  it('Feishu: the references card, the .md file and the document', async () => {
    const f = await feishuWorld({ SKIP_CLARIFICATION: 'true' });
    w = f;
    Object.assign(f.ds.script, { references: [...defaultReferences(4), GHOST], report: REPORT });
    const event = f.feishu.userMessage({ text: 'topic', mentionBot: true });
    const root = (event.event as { message: { message_id: string } }).message.message_id;
    await f.deliver(event);
    await expect.poll(() => docCard(f, root), { timeout: 15_000 }).toBeDefined();
    const thread = f.feishu.thread(root).map(text).join('\n');
    expect(thread).toMatch(/Ghost source[^\n]{0,80}not among the visited sources/);
    const file = [...f.feishu.files.values()].find((x) => x.name.endsWith('.md'))!.content.toString();
    expect(file).toContain(`⚠️ *${FLAG}*`);
    const doc = f.feishu.docx.docs.get(docOf(f, docCard(f, root)!))!;
    expect(JSON.stringify([...doc.blocks.values()])).toContain(FLAG);
  });
});
