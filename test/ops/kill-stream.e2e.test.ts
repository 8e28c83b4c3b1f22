import { afterEach, describe, expect, it } from 'vitest';
import { mentionEvent, nextTs, visible } from '../slack/harness.js';
import { processWorld, type ProcessWorld } from './bot-process.js';

let w: ProcessWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

describe('SIGKILL while a run streams its progress, then a restart over the same store', () => {
  it('the stream left open is ended ("continued below") and the run goes on in a fresh stream below it', async () => {
    w = await processWorld({ SKIP_CLARIFICATION: 'true' }, { frameDelayMs: 40 });
    const { ds, slack } = w;
    slack.streaming = true;
    let bot = await w.boot();
    const ts = nextTs();
    await slack.sendEvent(bot.endpoint, mentionEvent('AI in education', { ts }));
    const streams = () => slack.streams('C1', ts);
    await expect.poll(() => streams()[0]?.stream?.tasks.size ?? 0, { timeout: 15_000 }).toBeGreaterThan(1);
    await bot.kill();
    const first = streams()[0]!;
    expect(first.stream!.state).toBe('streaming');

    bot = await w.boot();
    await expect.poll(() => slack.files.length, { timeout: 30_000 }).toBe(1);
    await expect.poll(() => streams().every((m) => m.stream!.state !== 'streaming'), { timeout: 10_000 }).toBe(true);
    // The first stream was ended by the new process, saying where the run went on; the run streamed below it.
    expect(first.stream!.title).toMatch(/Interrupted by a restart · continued below/);
    const later = streams().filter((m) => m !== first);
    expect(later.length).toBeGreaterThanOrEqual(1);
    expect(later.at(-1)!.stream!.title).toMatch(/Research finished/);
    for (const m of later) expect(m.stream).toMatchObject({ recipient_user_id: 'U1', recipient_team_id: 'T1' });
    expect(slack.thread('C1', ts).some((m) => /restarted; running your research again/.test(visible(m)))).toBe(true);
    // Nothing was refused but asking a message that was no longer streaming.
    expect(slack.refused.filter((r) => r.error !== 'message_not_in_streaming_state')).toEqual([]);
    expect(ds.requests.length).toBe(2);
  }, 60_000);

  it('a stream Slack started but whose answer was lost with the process is ended, and the run streams below it', async () => {
    w = await processWorld({ SKIP_CLARIFICATION: 'true' }, { frameDelayMs: 10 });
    const { slack } = w;
    slack.streaming = true;
    slack.stallAfter = (method) => method === 'chat.startStream';
    let bot = await w.boot();
    const ts = nextTs();
    await slack.sendEvent(bot.endpoint, mentionEvent('AI in education', { ts }));
    await expect.poll(() => slack.stalled.length, { timeout: 15_000 }).toBe(1);
    await bot.kill();
    slack.stallAfter = undefined;
    const orphan = slack.streams('C1', ts)[0]!;
    expect(orphan.stream!.state).toBe('streaming');

    bot = await w.boot();
    await expect.poll(() => slack.files.length, { timeout: 30_000 }).toBe(1);
    await expect.poll(() => slack.streams('C1', ts).every((m) => m.stream!.state !== 'streaming'), { timeout: 10_000 }).toBe(true);
    expect(orphan.stream!.title).toMatch(/Interrupted by a restart · continued below/);
    const later = slack.streams('C1', ts).filter((m) => m !== orphan);
    expect(later.at(-1)!.stream!.title).toMatch(/Research finished/);
    expect(slack.refused.filter((r) => r.error !== 'message_not_in_streaming_state')).toEqual([]);
  }, 60_000);

  it('after a roll-over, the later stream left open is ended too, not only the first message the core knows', async () => {
    w = await processWorld({ SKIP_CLARIFICATION: 'true' }, { frameDelayMs: 40 });
    const { slack } = w;
    slack.streaming = true;
    // Streams end 1.5 s after they start: the run rolls onto a second message before it is killed.
    slack.streamLifetimeMs = 1500;
    let bot = await w.boot();
    const ts = nextTs();
    await slack.sendEvent(bot.endpoint, mentionEvent('AI in education', { ts }));
    const streams = () => slack.streams('C1', ts);
    await expect.poll(() => streams().length, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    await bot.kill();
    // The latest one is still open when the next process starts.
    slack.streamLifetimeMs = 306_000;
    const tail = streams().at(-1)!;
    expect(tail.stream!.state).toBe('streaming');

    bot = await w.boot();
    await expect.poll(() => slack.files.length, { timeout: 30_000 }).toBe(1);
    await expect.poll(() => streams().every((m) => m.stream!.state !== 'streaming'), { timeout: 10_000 }).toBe(true);
    expect(tail.stream!.title).toMatch(/Interrupted by a restart · continued below/);
    expect(streams().at(-1)!.stream!.title).toMatch(/Research finished/);
  }, 60_000);
});
