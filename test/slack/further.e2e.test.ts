import { afterEach, describe, expect, it } from 'vitest';
import { ACTIONS } from '../../src/platforms/slack/blocks.js';
import { findButton, replyEvent, nextTs, slackWorld, type SlackWorld } from './harness.js';
import { finishedThread, furtherButtonIn, markdownIn, shown, tagged, tagOf } from './after-report.js';

let w: SlackWorld;
afterEach(() => w?.close());

const FOCUS = 'the cost of adaptive tutors for public schools';
const permalinkOf = (ts: string, threadTs: string) => `https://fake.slack.com/archives/C1/p${ts.replace('.', '')}?thread_ts=${threadTs}&cid=C1`;
const contentOf = (w: SlackWorld, i: number) => (w.ds.requests[i]?.body.input?.messages ?? []).map((m) => String(m.content));

/** Presses "Research further" as `user`, answers the focus question, and waits for the second report's end. */
async function researchFurther(w: SlackWorld, ts: string, user: string): Promise<void> {
  await w.slack.sendAction(w.endpoint, w.slack.buttonPayload(furtherButtonIn(w, ts)!, ACTIONS.further, user));
  const focusQuestion = () => w.slack.thread('C1', ts).find((m) => shown(m).includes('What should the further research focus on?'));
  await expect.poll(focusQuestion).toBeDefined();
  // The existing clarify message asks it, with its buttons while it is open.
  expect(shown(focusQuestion())).toContain('Before I start, one question:');
  expect(findButton([focusQuestion()!], ACTIONS.startNow)).toBeDefined();
  await w.slack.sendEvent(w.endpoint, replyEvent(FOCUS, ts, { user }));
  await expect.poll(() => w.slack.files.length, { timeout: 20_000 }).toBe(2);
  await expect.poll(() => w.slack.thread('C1', ts).filter((m) => JSON.stringify(m.blocks).includes(ACTIONS.further)).length, { timeout: 10_000 }).toBe(2);
}

/** What a round's new research request asked: one step-2 request, no clarifying question, the focus and the summary. */
function expectOneFurtherRequest(w: SlackWorld): void {
  expect(w.ds.requests).toHaveLength(3);
  const request = w.ds.requests[2]!.body;
  expect(request.parameters?.enable_feedback).toBe(false);
  const [message, ...rest] = contentOf(w, 2);
  expect(rest).toEqual([]);
  expect(message).toContain(FOCUS);
  expect(message).toContain('This report looks at how AI supports personalised learning');
  expect(w.ds.chat.requests).toHaveLength(0);
}

describe('Slack: "Research further" takes a finished report further in the same thread', () => {
  it('edited progress: the button asks for a focus; the reply runs one step-2 research; the new report links the first', async () => {
    w = await slackWorld();
    const ts = nextTs();
    await finishedThread(w, ts);
    const progress = furtherButtonIn(w, ts)!;
    expect(shown(progress)).toContain('Research finished');
    // Anyone in the channel may take it further: here a second person.
    await researchFurther(w, ts, 'U2');
    expectOneFurtherRequest(w);

    const first = tagged(w, ts, 'report:1:0')!;
    const second = tagged(w, ts, 'report:2:0')!;
    expect(markdownIn(first)).toMatch(/^# Personalised learning with AI/);
    const opening = markdownIn(second).split('\n\n')[0]!;
    expect(opening).toContain('This report builds on the earlier report on “AI in education” in this thread');
    expect(opening).toContain(`(${permalinkOf(first.ts, ts)})`);
    expect(w.slack.callsOf('chat.getPermalink').map((c) => c.args.message_ts)).toEqual([first.ts]);
    // The second round's report is whole below it, and its progress offers "Research further" again.
    expect(markdownIn(second)).toContain('# Personalised learning with AI');
    expect(w.slack.refused).toEqual([]);
  });

  it('streamed progress: the button sits under the feedback buttons; the new stream opens its text with the link, nothing twice', async () => {
    w = await slackWorld({}, { streaming: true });
    const ts = nextTs();
    await finishedThread(w, ts);
    const firstStream = furtherButtonIn(w, ts)!;
    expect(firstStream.stream?.state).toBe('stopped');
    expect(firstStream.blocks.map((b) => b.type).slice(-2)).toEqual(['context_actions', 'actions']);
    await researchFurther(w, ts, 'U2');
    expectOneFurtherRequest(w);

    const streams = w.slack.streams('C1', ts);
    const [round1, round2] = [streams.filter((m) => m.ts <= firstStream.ts), streams.filter((m) => m.ts > firstStream.ts)];
    // The person who pressed the button receives the new round's stream.
    for (const m of round2) expect(m.stream).toMatchObject({ recipient_user_id: 'U2' });
    // The first report's first message is the stream that showed its text: the link leads there.
    const firstText = round1.find((m) => m.stream!.markdown.includes('# Personalised learning with AI'))!;
    const text2 = round2.map((m) => m.stream!.markdown).join('');
    expect(text2.trimStart()).toMatch(/^\*This report builds on the earlier report on “AI in education” in this thread/);
    expect(text2).toContain(`(${permalinkOf(firstText.ts, ts)})`);
    for (const line of w.ds.script.report.split('\n').filter((l) => l.trim() && !l.startsWith('|'))) {
      const piece = line.split('[[')[0]!.trim();
      expect(text2.split(piece).length - 1, piece).toBe(1);
    }
    // Nothing of the report was posted besides the stream: only the references (and the canvas link) for each round.
    const posted = w.slack.thread('C1', ts).filter((m) => !m.stream && /^report:/.test(tagOf(m) ?? '') && markdownIn(m));
    expect(posted.map((m) => markdownIn(m).slice(0, 13))).toEqual(['## References', '## References']);
    expect(w.slack.refused).toEqual([]);
  });

  it('streamed progress of a further round the platform did not see asked for (a restart in between): the link is its own message, nothing twice', async () => {
    // Frames slow enough that the new round's draft streams before its report is delivered.
    w = await slackWorld({}, { streaming: true, frameDelayMs: 8 });
    const ts = nextTs();
    await finishedThread(w, ts);
    const firstStream = furtherButtonIn(w, ts)!;
    // The action reaches the core without passing the Slack listener, as after a restart between the press and the run.
    await w.bot.engine.handle({ platform: 'slack', kind: 'action', action: 'further', thread: `slack:T1:C1:${ts}`, eventId: 'further-direct', user: 'U1', channel: 'C1' });
    await expect.poll(() => w.slack.thread('C1', ts).find((m) => shown(m).includes('What should the further research focus on?'))).toBeDefined();
    await w.slack.sendEvent(w.endpoint, replyEvent(FOCUS, ts));
    await expect.poll(() => w.slack.files.length, { timeout: 20_000 }).toBe(2);
    expectOneFurtherRequest(w);

    const round2 = w.slack.streams('C1', ts).filter((m) => m.ts > firstStream.ts);
    const text2 = round2.map((m) => m.stream!.markdown).join('');
    // The draft streamed first, so the line that opens the report could not go above it: it is a message of its own.
    expect(text2.trimStart()).toMatch(/^# Personalised learning with AI/);
    const lead = tagged(w, ts, 'report:2:0')!;
    expect(lead.stream).toBeUndefined();
    expect(markdownIn(lead)).toMatch(/^\*This report builds on the earlier report on “AI in education” in this thread: \[read it\]\(https:\/\/fake\.slack\.com\/archives\/C1\/p/);
    for (const line of w.ds.script.report.split('\n').filter((l) => l.trim() && !l.startsWith('|'))) {
      const piece = line.split('[[')[0]!.trim();
      expect(text2.split(piece).length - 1, piece).toBe(1);
      expect(markdownIn(lead), piece).not.toContain(piece);
    }
    expect(w.slack.refused).toEqual([]);
  });

  it('after a failed further round, Retry runs it again without asking again', async () => {
    w = await slackWorld();
    const ts = nextTs();
    await finishedThread(w, ts);
    w.ds.enqueue({ kind: 'error-frame', afterFrames: 10, status: 429, code: 'Throttling', message: 'Requests throttling triggered.' });
    await w.slack.sendAction(w.endpoint, w.slack.buttonPayload(furtherButtonIn(w, ts)!, ACTIONS.further, 'U1'));
    await expect.poll(() => w.slack.thread('C1', ts).find((m) => shown(m).includes('What should the further research focus on?'))).toBeDefined();
    await w.slack.sendEvent(w.endpoint, replyEvent(FOCUS, ts));
    await expect.poll(() => findButton(w.slack.thread('C1', ts), ACTIONS.retry), { timeout: 15_000 }).toBeDefined();
    await w.slack.sendAction(w.endpoint, w.slack.buttonPayload(findButton(w.slack.thread('C1', ts), ACTIONS.retry)!, ACTIONS.retry, 'U1'));
    await expect.poll(() => w.slack.files.length, { timeout: 20_000 }).toBe(2);
    expect(w.ds.requests).toHaveLength(4);
    expect(w.ds.requests.slice(2).map((r) => r.body.parameters?.enable_feedback)).toEqual([false, false]);
    expect(contentOf(w, 3)).toEqual(contentOf(w, 2));
  });
});
