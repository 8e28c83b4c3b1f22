import { afterEach, describe, expect, it } from 'vitest';
import { answered, finishedThread, markdownIn, shown, tagged } from './after-report.js';
import { mentionEvent, nextTs, replyEvent, slackWorld, type SlackWorld } from './harness.js';

let w: SlackWorld;
afterEach(() => w?.close());

/** The chat requests' messages, as sent. */
const chatMessages = (w: SlackWorld, i: number) => (w.ds.chat.requests[i]?.body.input?.messages ?? []).map((m) => ({ role: m.role, content: String(m.content) }));

describe('Slack: follow-up questions in a finished thread, answered from the report by the chat model', () => {
  it('a reply after the report is answered by one chat request with the question and the report; no new research', async () => {
    w = await slackWorld();
    const ts = nextTs();
    await finishedThread(w, ts);
    expect(w.ds.requests).toHaveLength(2);
    await w.slack.sendEvent(w.endpoint, replyEvent('What do the studies say about engagement?', ts));
    const answer = await answered(w, ts, 1);

    expect(w.ds.chat.requests).toHaveLength(1);
    const request = w.ds.chat.requests[0]!.body;
    expect(request.model).toBe('qwen-plus');
    const messages = chatMessages(w, 0);
    expect(messages.at(-1)).toEqual({ role: 'user', content: 'What do the studies say about engagement?' });
    const system = messages[0]!.content;
    expect(messages[0]!.role).toBe('system');
    // The report as written, and its numbered sources.
    expect(system).toContain('# Personalised learning with AI');
    expect(system).toContain('## Conclusion');
    for (const r of w.ds.script.references) expect(system).toContain(r.url);
    // No deep research for a follow-up.
    expect(w.ds.requests).toHaveLength(2);

    // The answer in the thread: who asked, the question, the answer with its citations linked, the model and tokens.
    const md = markdownIn(answer);
    expect(md).toContain('Adaptive tutors choose the next exercise');
    expect(md).toContain(`[\\[1\\]](${w.ds.script.references[0]!.url}`);
    expect(md).toContain(`[\\[3\\]](${w.ds.script.references[2]!.url}`);
    expect(md).not.toContain('[[');
    expect(shown(answer)).toContain('Question from <@U1>');
    expect(shown(answer)).toContain('>What do the studies say about engagement?');
    expect(shown(answer)).toMatch(/Answered from the report by qwen-plus · [\d,]+ tokens/);
    // One message, posted once and edited as the answer came in.
    expect(w.slack.thread('C1', ts).filter((m) => tagged(w, ts, 'followup:1:1') === m)).toHaveLength(1);
    expect(w.slack.callsOf('chat.postMessage').filter((c) => JSON.stringify(c.args.metadata ?? '').includes('followup:'))).toHaveLength(1);
    // Tagged in its metadata like every post, so that after a restart the answer's message is found, not posted again.
    expect(await w.bot.slack!.platform.findPosted(`slack:T1:C1:${ts}`, 'followup:1:1')).toBe(answer.ts);
    expect(w.slack.refused).toEqual([]);
  });

  it("a second person's question, asked by mentioning the bot in the thread, is answered too", async () => {
    w = await slackWorld();
    const ts = nextTs();
    await finishedThread(w, ts);
    await w.slack.sendEvent(w.endpoint, replyEvent('Which tutors were compared?', ts, { user: 'U1' }));
    await answered(w, ts, 1);
    await w.slack.sendEvent(w.endpoint, mentionEvent('What are the caveats <!channel>?', { user: 'U2', thread_ts: ts }));
    const second = await answered(w, ts, 2);

    expect(w.ds.chat.requests).toHaveLength(2);
    expect(chatMessages(w, 1).at(-1)).toEqual({ role: 'user', content: 'What are the caveats @channel?' });
    expect(shown(second)).toContain('Question from <@U2>');
    expect(markdownIn(second)).toContain(`](${w.ds.script.references[1]!.url}`);
    // The mention of the bot is not in the question, and what U2 wrote cannot ping the channel.
    expect(shown(second)).not.toContain('<!channel>');
    expect(w.ds.requests).toHaveLength(2);
  });

  it('a question after several turns sees the earlier questions and answers', async () => {
    w = await slackWorld();
    const ts = nextTs();
    await finishedThread(w, ts);
    w.ds.chat.enqueue({ answer: 'First answer: knowledge tracing [[1]].' }, { answer: 'Second answer: graph learning [[2]].' }, { answer: 'Third answer [[4]].' });
    const questions = ['How do the tutors model learners?', 'And Tutor B?', 'Which of the two did better?'];
    for (const [i, q] of questions.entries()) {
      await w.slack.sendEvent(w.endpoint, replyEvent(q, ts, { user: i === 1 ? 'U2' : 'U1' }));
      await answered(w, ts, i + 1);
    }
    expect(w.ds.chat.requests).toHaveLength(3);
    expect(chatMessages(w, 2).slice(1)).toEqual([
      { role: 'user', content: questions[0] },
      { role: 'assistant', content: 'First answer: knowledge tracing [[1]].' },
      { role: 'user', content: questions[1] },
      { role: 'assistant', content: 'Second answer: graph learning [[2]].' },
      { role: 'user', content: questions[2] },
    ]);
    expect(markdownIn(tagged(w, ts, 'followup:1:3'))).toContain('Third answer');
  });

  it('over the per-hour limit a question gets a notice and no chat request; another person may still ask', async () => {
    w = await slackWorld({ FOLLOWUP_LIMIT_PER_HOUR: '1' });
    const ts = nextTs();
    await finishedThread(w, ts);
    await w.slack.sendEvent(w.endpoint, replyEvent('First question?', ts));
    await answered(w, ts, 1);
    await w.slack.sendEvent(w.endpoint, replyEvent('Second question?', ts));
    await expect.poll(() => w.slack.thread('C1', ts).find((m) => /follow-up question in the last hour/.test(m.text))).toBeDefined();
    const notice = w.slack.thread('C1', ts).find((m) => /follow-up question in the last hour/.test(m.text))!;
    expect(notice.text).toContain('FOLLOWUP_LIMIT_PER_HOUR');
    expect(w.ds.chat.requests).toHaveLength(1);
    // The limit is per person.
    await w.slack.sendEvent(w.endpoint, replyEvent('My question?', ts, { user: 'U2' }));
    // The refused question left no turn behind: U2's is the second.
    expect(shown(await answered(w, ts, 2))).toContain('Question from <@U2>');
    expect(w.ds.chat.requests).toHaveLength(2);
    expect(chatMessages(w, 1).at(-1)!.content).toBe('My question?');
    expect(w.ds.requests).toHaveLength(2);
  });
});
