import { afterEach, describe, expect, it } from 'vitest';
import { sampleReport } from '../fakes/dashscope-script.js';
import { BOT_OPEN_ID, cardText, markdownOf } from '../fakes/feishu.js';
import { clarifyCard, feishuWorld, progressCard, text, type FeishuWorld } from './harness.js';

let w: FeishuWorld;
afterEach(() => w?.close());

const allCardMarkdown = (w: FeishuWorld, root: string) =>
  w.feishu
    .thread(root)
    .filter((m) => m.msg_type === 'interactive')
    .flatMap((m) => markdownOf(m.content))
    .join('\n');

describe('Feishu, webhook mode (encrypted, signed) through the real EventDispatcher', () => {
  it('runs a whole group conversation: question card, @mention reply in the thread, patched progress, report cards, file', async () => {
    w = await feishuWorld({}, { webhook: true });
    const event = w.feishu.userMessage({ text: 'AI in education', mentionBot: true });
    const root = (event.event as { message: { message_id: string } }).message.message_id;
    const ack = await w.deliver(event);
    expect(ack.status).toBe(200);
    await expect.poll(() => clarifyCard(w, root) && text(clarifyCard(w, root)!)).toContain(w.ds.question.slice(0, 30));
    const question = clarifyCard(w, root)!;
    expect(question.parent_id).toBe(root);
    expect(JSON.stringify(question.content)).toContain('"form_action_type":"submit"');
    expect(w.ds.requests[0]!.body.input?.messages).toEqual([{ role: 'user', content: 'AI in education' }]);

    await w.deliver(w.feishu.userMessage({ text: 'personalised learning', root, mentionBot: true }));
    await expect.poll(() => w.feishu.files.size, { timeout: 15_000 }).toBe(1);
    await expect.poll(() => text(progressCard(w, root)!)).toMatch(/Research finished/);
    expect(w.ds.requests[1]!.body.input?.messages?.map((m) => m.content)).toEqual(['AI in education', w.ds.question, 'personalised learning']);

    const progress = progressCard(w, root)!;
    expect(progress.history.length).toBeGreaterThan(2);
    expect(text(progress)).toMatch(/✅ Planning the research.*✅ Searching the web.*✅ Writing the report/);
    expect(text(progress)).toContain('search query for round 3');
    expect(JSON.stringify(progress.content)).not.toContain('"a":"cancel"');
    // The question card closes with the answer.
    expect(JSON.stringify(clarifyCard(w, root)!.content)).not.toContain('"tag":"form"');

    const md = allCardMarkdown(w, root);
    expect(md).toContain('#### Personalised learning with AI');
    expect(md).toContain('[\\[1\\]](https://example.org/source-1');
    expect(md).toContain('References');
    for (const r of w.ds.script.references) expect(md).toContain(r.url);
    const fileMsg = w.feishu.thread(root).find((m) => m.msg_type === 'file')!;
    const file = w.feishu.files.get(String(fileMsg.content.file_key))!;
    expect(file.name).toBe('personalised-learning-with-ai.md');
    expect(file.content.toString()).toContain('## Conclusion');
    expect(w.feishu.refused).toEqual([]);
  });

  it('answers the URL challenge and refuses requests without a valid signature', async () => {
    w = await feishuWorld({}, { webhook: true });
    const endpoint = `http://127.0.0.1:${w.bot.port}/feishu/events`;
    const challenge = await w.feishu.deliver(endpoint, { type: 'url_verification', challenge: 'abc123', token: 'vtoken' });
    expect(challenge).toMatchObject({ status: 200 });
    expect(JSON.parse(challenge.body)).toEqual({ challenge: 'abc123' });
    const forged = await w.feishu.deliver(endpoint, w.feishu.userMessage({ text: 'x', mentionBot: true }), { badSignature: true });
    expect(forged.status).toBe(401);
    const plain = await fetch(endpoint, { method: 'POST', body: JSON.stringify(w.feishu.userMessage({ text: 'y', mentionBot: true })) });
    expect(plain.status).toBe(401);
    // A signed mention after them gets its question: by then the refused ones would have been handled too.
    const signed = w.feishu.userMessage({ text: 'z', mentionBot: true });
    expect((await w.feishu.deliver(endpoint, signed)).status).toBe(200);
    await expect.poll(() => clarifyCard(w, (signed.event as { message: { message_id: string } }).message.message_id)).toBeDefined();
    await expect.poll(() => w.ds.requests.length).toBe(1);
    expect(w.ds.requests.map((r) => r.body.input?.messages?.map((m) => m.content))).toEqual([['z']]);
    expect(w.feishu.callsTo(/reply$/)).toBe(1);
  });
});

describe('Feishu, long connection (events invoked into the dispatcher as WSClient does)', () => {
  it('answers through the card form, and acknowledges at once', async () => {
    w = await feishuWorld();
    const event = w.feishu.userMessage({ text: 'solid-state batteries', mentionBot: true, post: true });
    const root = (event.event as { message: { message_id: string } }).message.message_id;
    const ack = await w.deliver(event);
    expect(ack.ms).toBeLessThan(100);
    await expect.poll(() => clarifyCard(w, root) && JSON.stringify(clarifyCard(w, root)!.content).includes('"form_action_type":"submit"')).toBe(true);
    // Someone else's answer is refused; the requester's goes through.
    await w.deliver(w.feishu.formSubmit(clarifyCard(w, root)!.message_id, 'not mine', { user: 'ou_bob' }));
    await expect.poll(() => w.feishu.thread(root).some((m) => /Only the person who asked/.test(text(m)))).toBe(true);
    const click = await w.deliver(w.feishu.formSubmit(clarifyCard(w, root)!.message_id, 'cost per kWh'));
    expect(click.ms).toBeLessThan(100);
    await expect.poll(() => w.feishu.files.size, { timeout: 15_000 }).toBe(1);
    expect(w.ds.requests[1]!.body.input?.messages?.map((m) => m.content)).toEqual(['solid-state batteries', w.ds.question, 'cost per kWh']);
    expect(text(clarifyCard(w, root)!)).toContain('cost per kWh');
  });

  it('works in a direct chat without mentions: a message starts, a thread reply answers; Cancel stops a run', async () => {
    w = await feishuWorld();
    const event = w.feishu.userMessage({ text: 'battery chemistry', chat: 'oc_dm', p2p: true });
    const root = (event.event as { message: { message_id: string } }).message.message_id;
    await w.deliver(event);
    await expect.poll(() => clarifyCard(w, root) && JSON.stringify(clarifyCard(w, root)!.content).includes('"a":"start-now"')).toBe(true);
    w.ds.pause();
    await w.deliver(w.feishu.userMessage({ text: 'sodium-ion', chat: 'oc_dm', p2p: true, root }));
    await expect.poll(() => w.ds.open).toBe(1);
    expect(w.ds.requests[1]!.body.input?.messages?.at(-1)?.content).toBe('sodium-ion');
    await expect.poll(() => progressCard(w, root) && JSON.stringify(progressCard(w, root)!.content).includes('"a":"cancel"')).toBe(true);
    await w.deliver(w.feishu.cardAction(progressCard(w, root)!.message_id, 'cancel'));
    await expect.poll(() => w.ds.clientAborts).toBe(1);
    await expect.poll(() => text(progressCard(w, root)!)).toMatch(/cancelled/);
  });

  it('ignores duplicate deliveries, messages from apps and unmentioned top-level group messages', async () => {
    w = await feishuWorld();
    const event = w.feishu.userMessage({ text: 'topic', mentionBot: true });
    const root = (event.event as { message: { message_id: string } }).message.message_id;
    // The same event three times, and the same message under a new event_id (a redelivery after a reconnect).
    const again = { ...event, header: { ...(event.header as object), event_id: 'ev_other' } };
    await Promise.all([w.deliver(event), w.deliver(event), w.deliver(event), w.deliver(again)]);
    const fromBot = w.feishu.userMessage({ text: 'topic', mentionBot: true });
    ((fromBot.event as { sender: { sender_type: string } }).sender.sender_type = 'app');
    await w.deliver(fromBot);
    await w.deliver(w.feishu.userMessage({ text: 'just chatting' }));
    // The question asked (step 1 over): the person has no research running, so a new request of theirs is taken.
    await expect.poll(() => clarifyCard(w, root) && JSON.stringify(clarifyCard(w, root)!.content).includes('"form_action_type":"submit"')).toBe(true);
    // A mention delivered after all of them gets its question: by then the ignored ones were handled too.
    const later = w.feishu.userMessage({ text: 'later topic', mentionBot: true });
    await w.deliver(later);
    await expect.poll(() => clarifyCard(w, (later.event as { message: { message_id: string } }).message.message_id)).toBeDefined();
    expect(w.feishu.thread(root).filter((m) => m.msg_type === 'interactive')).toHaveLength(1);
    // The question card is posted (thinking) before step 1 is asked: wait for the request itself.
    await expect.poll(() => w.ds.requests.length).toBe(2);
    expect(w.ds.requests.map((r) => r.body.input?.messages?.map((m) => m.content))).toEqual([['topic'], ['later topic']]);
    expect(w.feishu.callsTo(/reply$/)).toBe(2);
  });

  it('recovers from token expiry mid-run and from rate limits, and still delivers everything', async () => {
    w = await feishuWorld({ SKIP_CLARIFICATION: 'true' });
    w.ds.frameDelayMs = 3;
    const event = w.feishu.userMessage({ text: 'topic', mentionBot: true });
    const root = (event.event as { message: { message_id: string } }).message.message_id;
    await w.deliver(event);
    await expect.poll(() => progressCard(w, root)?.history.length ?? 0).toBeGreaterThan(1);
    w.feishu.expireTokens();
    w.feishu.failures.push({ path: /\/reply$/, answer: { status: 429, body: { code: 99991400, msg: 'request trigger frequency limit' }, headers: { 'x-ogw-ratelimit-reset': '1' } } });
    await expect.poll(() => w.feishu.files.size, { timeout: 15_000 }).toBe(1);
    await expect.poll(() => text(progressCard(w, root)!)).toMatch(/Research finished/);
    expect(w.feishu.tokensIssued).toBeGreaterThanOrEqual(2);
    expect(w.bot.feishu!.api.stats.tokenRefreshes).toBeGreaterThanOrEqual(1);
    expect(w.bot.feishu!.api.stats.rateLimited).toBe(1);
    expect(w.feishu.refused.map((r) => r.code).sort()).toEqual([99991400, 99991663]);
    expect(allCardMarkdown(w, root)).toContain('Conclusion');
  });

  it('a long report with many tables arrives whole in several cards, each under 30 KB with at most 3 tables', async () => {
    w = await feishuWorld({ SKIP_CLARIFICATION: 'true' });
    const tables = Array.from({ length: 8 }, (_, i) => `| Metric ${i} | Value |\n| --- | --- |\n| a${i} | b${i} |\n`).join('\n');
    const cjk = '固态电池的研究进展与挑战。'.repeat(400);
    const report = `${sampleReport(40, 3)}\n\n${tables}\n\n${cjk}\n\n\`\`\`js\n${'const x = 1; // code\n'.repeat(300)}\`\`\`\n`;
    w.ds.script = { ...w.ds.script, report, chunk: 400 };
    const event = w.feishu.userMessage({ text: 'a long topic', mentionBot: true });
    const root = (event.event as { message: { message_id: string } }).message.message_id;
    await w.deliver(event);
    await expect.poll(() => w.feishu.files.size, { timeout: 20_000 }).toBe(1);
    // The progress card (a CardKit card) holds the report's first parts; the rest follow as cards.
    await expect.poll(() => text(progressCard(w, root)!)).toMatch(/Research finished/);
    const reportCards = w.feishu.thread(root).filter((m) => m.msg_type === 'interactive');
    expect(reportCards.length).toBeGreaterThanOrEqual(4);
    for (const c of reportCards) {
      expect(Buffer.byteLength(JSON.stringify(c.content))).toBeLessThan(30 * 1024);
      expect(markdownOf(c.content).join('\n').match(/^\| --- \| --- \|$/gm)?.length ?? 0).toBeLessThanOrEqual(3);
    }
    const joined = reportCards.flatMap((c) => markdownOf(c.content)).join('\n');
    for (const line of report.split('\n')) if (line.trim() && !line.includes('[[') && !line.startsWith('#')) expect(joined).toContain(line);
    expect(joined.split(cjk.slice(0, 13)).length).toBeGreaterThan(1);
    expect(w.feishu.refused).toEqual([]);
  }, 40_000);

  it('neutralises hostile model and user text: no at-mention of anyone, no card markup', async () => {
    w = await feishuWorld();
    w.ds.question = 'Should I tell <at user_id="all"></at> and <at id=all></at>? <font color="red">x</font>';
    w.ds.script = {
      ...w.ds.script,
      report: `# Report <at user_id="all">everyone</at>\n\nHi <at id="${BOT_OPEN_ID}"></at> and <at email="a@b.c"></at>, see [file](lark://evil) & <link url="https://evil.example">innocent text</link>.\n\nAlso &#60;at id=all&#62; [[1]].\n\n\`<at id=all>\` in code stays code.`,
    };
    const event = w.feishu.userMessage({ text: 'topic <at user_id="all"></at>', mentionBot: true });
    const root = (event.event as { message: { message_id: string } }).message.message_id;
    await w.deliver(event);
    await expect.poll(() => clarifyCard(w, root) && JSON.stringify(clarifyCard(w, root)!.content).includes('"a":"start-now"')).toBe(true);
    await w.deliver(w.feishu.cardAction(clarifyCard(w, root)!.message_id, 'start-now'));
    await expect.poll(() => w.feishu.files.size, { timeout: 15_000 }).toBe(1);
    const markdown = w.feishu
      .thread(root)
      .filter((m) => m.msg_type === 'interactive')
      .flatMap((m) => m.history.flatMap((h) => markdownOf(h)))
      .join('\n')
      // Code spans are shown literally by Feishu, so they are not markup.
      .replace(/`[^`]*`/g, '');
    expect(markdown).toContain('innocent text');
    for (const token of ['<at', '<font', '<link', 'lark://']) expect(markdown, token).not.toContain(token);
    // An entity written by the model stays text: its `&` is escaped too.
    expect(markdown).toContain('&#38;#60;at id=all');
    // Inside code the tag is broken by a zero-width space: it reads the same, and no mention can form.
    const everything = w.feishu.thread(root).flatMap((m) => m.history.map((h) => cardText(h))).join('\n');
    expect(everything).not.toContain('`<at id=all>`');
    expect(everything.replace(/\u200B/g, '')).toContain('`<at id=all>`');
  });
});
