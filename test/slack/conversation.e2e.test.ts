import { afterEach, describe, expect, it } from 'vitest';
import { ACTIONS } from '../../src/platforms/slack/blocks.js';
import { findButton, mentionEvent, nextTs, replyEvent, slackWorld, visible, type SlackWorld } from './harness.js';

let w: SlackWorld;
afterEach(() => w?.close());

const progressOf = (w: SlackWorld, ts: string) => w.slack.thread('C1', ts).find((m) => visible(m).includes('Topic'));

describe('Slack, HTTP mode, through the real Bolt receiver', () => {
  it('runs a whole conversation: question, reply, live progress, report, references, file', async () => {
    w = await slackWorld();
    const ts = nextTs();
    const ack = await w.slack.sendEvent(w.endpoint, mentionEvent('AI in education', { ts }));
    expect(ack.status).toBe(200);
    await expect.poll(() => w.slack.thread('C1', ts).some((m) => m.text.includes(w.ds.question.slice(0, 30)))).toBe(true);
    const question = w.slack.thread('C1', ts)[0]!;
    expect(JSON.stringify(question.blocks)).toContain(ACTIONS.startNow);
    expect(w.ds.requests[0]!.body.input?.messages).toEqual([{ role: 'user', content: 'AI in education' }]);

    await w.slack.sendEvent(w.endpoint, replyEvent('personalised learning', ts));
    await expect.poll(() => w.slack.files.length, { timeout: 15_000 }).toBe(1);
    await expect.poll(() => progressOf(w, ts)?.text).toMatch(/Research finished/);
    expect(w.ds.requests[1]!.body.input?.messages?.map((m) => m.content)).toEqual(['AI in education', w.ds.question, 'personalised learning']);

    const progress = progressOf(w, ts)!;
    // Edits are coalesced under the budget; each view lists every phase with its state.
    expect(JSON.stringify(progress.blocks)).toMatch(/white_check_mark: Planning the research.*white_check_mark: Searching the web.*white_check_mark: Writing the report/);
    expect(JSON.stringify(progress.blocks)).toContain('search query for round 3');
    expect(JSON.stringify(progress.blocks)).not.toContain(ACTIONS.cancel);

    const markdown = w.slack.thread('C1', ts).flatMap((m) => m.blocks.filter((b) => b.type === 'markdown').map((b) => String(b.text)));
    const all = markdown.join('\n');
    expect(all).toContain('# Personalised learning with AI');
    expect(all).toContain('[\\[1\\]](https://example.org/source-1');
    expect(all).toContain('## References');
    for (const r of w.ds.script.references) expect(all).toContain(r.url);
    const file = w.slack.files[0]!;
    expect(file).toMatchObject({ filename: 'personalised-learning-with-ai.md', channel: 'C1', thread_ts: ts });
    expect(file.content.toString()).toContain('## Conclusion');
    for (const call of w.slack.callsOf('chat.postMessage')) expect(call.args.unfurl_links).toBe('false');
    expect(w.slack.refused).toEqual([]);
  });

  it('buttons: start now, cancel, and retry after a failure', async () => {
    w = await slackWorld();
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('topic one', { ts }));
    await expect.poll(() => findButton(w.slack.thread('C1', ts), ACTIONS.startNow)).toBeDefined();
    w.ds.enqueue({ kind: 'error-frame', afterFrames: 10, status: 429, code: 'Throttling', message: 'Requests throttling triggered.' });
    await w.slack.sendAction(w.endpoint, w.slack.buttonPayload(findButton(w.slack.thread('C1', ts), ACTIONS.startNow)!, ACTIONS.startNow, 'U1'));
    await expect.poll(() => progressOf(w, ts)?.text).toMatch(/failed/i);
    expect(JSON.stringify(progressOf(w, ts)!.blocks)).toContain('throttling requests right now');
    await w.slack.sendAction(w.endpoint, w.slack.buttonPayload(progressOf(w, ts)!, ACTIONS.retry, 'U1'));
    await expect.poll(() => progressOf(w, ts)?.text, { timeout: 15_000 }).toMatch(/Research finished/);
    expect(w.ds.requests.map((r) => r.body.input?.messages?.length)).toEqual([1, 3, 3]);

    const ts2 = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('topic two', { ts: ts2, user: 'U2' }));
    await expect.poll(() => findButton(w.slack.thread('C1', ts2), ACTIONS.startNow)).toBeDefined();
    w.ds.pause();
    await w.slack.sendAction(w.endpoint, w.slack.buttonPayload(findButton(w.slack.thread('C1', ts2), ACTIONS.startNow)!, ACTIONS.startNow, 'U2'));
    await expect.poll(() => w.ds.open).toBe(1);
    await w.slack.sendAction(w.endpoint, w.slack.buttonPayload(findButton(w.slack.thread('C1', ts2), ACTIONS.cancel)!, ACTIONS.cancel, 'U2'));
    await expect.poll(() => w.ds.clientAborts).toBe(1);
    await expect.poll(() => progressOf(w, ts2)?.text).toMatch(/cancelled/);
  });

  it('duplicate and retried deliveries, and a reply that also mentions the bot, count once', async () => {
    w = await slackWorld();
    const ts = nextTs();
    const event = mentionEvent('topic', { ts });
    const acks = await Promise.all([w.slack.sendEvent(w.endpoint, event), w.slack.sendEvent(w.endpoint, event, 1), w.slack.sendEvent(w.endpoint, event, 2)]);
    expect(acks.map((a) => a.status)).toEqual([200, 200, 200]);
    await expect.poll(() => findButton(w.slack.thread('C1', ts), ACTIONS.startNow)).toBeDefined();
    const replyTs = nextTs();
    // A reply that @mentions the bot arrives as app_mention and as message.channels.
    await w.slack.sendEvent(w.endpoint, { ...replyEvent('<@UBOT> focus on costs', ts, { ts: replyTs }) });
    await w.slack.sendEvent(w.endpoint, mentionEvent('focus on costs', { ts: replyTs, thread_ts: ts }));
    await expect.poll(() => w.slack.files.length, { timeout: 15_000 }).toBe(1);
    expect(w.ds.requests).toHaveLength(2);
    expect(w.ds.requests[1]!.body.input?.messages?.[2]?.content).toBe('focus on costs');
    expect(w.slack.thread('C1', ts).filter((m) => /still working/.test(m.text))).toHaveLength(0);
  });

  it('works in a direct message: every top-level message is a request, thread replies answer', async () => {
    w = await slackWorld();
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, { type: 'message', channel_type: 'im', channel: 'D1', user: 'U1', text: 'battery chemistry', ts });
    await expect.poll(() => findButton(w.slack.thread('D1', ts), ACTIONS.startNow)).toBeDefined();
    await w.slack.sendEvent(w.endpoint, { type: 'message', channel_type: 'im', channel: 'D1', user: 'U1', text: 'sodium-ion', ts: nextTs(), thread_ts: ts });
    await expect.poll(() => w.slack.files.length, { timeout: 15_000 }).toBe(1);
    expect(w.slack.files[0]).toMatchObject({ channel: 'D1', thread_ts: ts });
    expect(w.ds.requests[1]!.body.input?.messages?.map((m) => m.content)).toEqual(['battery chemistry', w.ds.question, 'sodium-ion']);
  });

  it('ignores bots, edits and joins, and answers a bare mention with help', async () => {
    w = await slackWorld();
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, { ...mentionEvent('topic', { ts }), bot_id: 'B2' });
    await w.slack.sendEvent(w.endpoint, { type: 'message', subtype: 'message_changed', channel: 'C1', ts: nextTs(), message: { text: 'x' } });
    await w.slack.sendEvent(w.endpoint, { type: 'message', subtype: 'channel_join', channel: 'C1', user: 'U3', ts: nextTs(), text: 'joined' });
    await w.slack.sendEvent(w.endpoint, replyEvent('hello', ts, { user: 'UBOT' }));
    const bare = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('', { ts: bare }));
    await expect.poll(() => w.slack.thread('C1', bare).length).toBe(1);
    expect(w.slack.thread('C1', bare)[0]!.text).toMatch(/Mention me with a topic/);
    expect(w.slack.thread('C1', ts)).toHaveLength(0);
    expect(w.ds.requests).toHaveLength(0);
  });

  it('rejects unsigned requests and reports ready on /healthz', async () => {
    w = await slackWorld();
    const res = await fetch(w.endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(w.slack.eventBody(mentionEvent('x'))) });
    expect(res.status).toBe(401);
    expect(w.ds.requests).toHaveLength(0);
    const health = await fetch(`http://127.0.0.1:${w.bot.port}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ready: true });
  });
});
