import { expect } from 'vitest';
import { ACTIONS } from '../../src/platforms/slack/blocks.js';
import type { FakeMessage } from '../fakes/slack.js';
import { findButton, mentionEvent, replyEvent, type SlackWorld } from './harness.js';

/** Helpers for what happens in a thread after its report: follow-up questions and "Research further". */

/** The tag the bot put in a message's metadata (`report:1:0`, `followup:1:2`). */
export function tagOf(m: FakeMessage): string | undefined {
  const payload = m.metadata?.event_payload as { tag?: string } | undefined;
  return payload?.tag;
}

/** The bot's message in the thread tagged `tag`. */
export function tagged(w: SlackWorld, ts: string, tag: string, channel = 'C1'): FakeMessage | undefined {
  return w.slack.thread(channel, ts).find((m) => tagOf(m) === tag);
}

/** The text of a message's markdown blocks (the report's and the answers' Markdown). */
export function markdownIn(m: FakeMessage | undefined): string {
  return (m?.blocks ?? []).filter((b) => b.type === 'markdown').map((b) => String(b.text)).join('\n');
}

/** Everything a person reads of a message: fallback text and every block, as JSON. */
export function shown(m: FakeMessage | undefined): string {
  return m ? [m.text, JSON.stringify(m.blocks)].join('\n') : '';
}

/** The message (edited progress or final streamed one) that carries the "Research further" button. */
export function furtherButtonIn(w: SlackWorld, ts: string, channel = 'C1'): FakeMessage | undefined {
  return findButton(w.slack.thread(channel, ts), ACTIONS.further);
}

/**
 * A whole research in a new thread, answered by `user`: mention, clarifying question, reply, report. Resolves once the
 * thread is finished (the report offers "Research further", shown after the thread is done), so a message after it
 * is a follow-up question.
 */
export async function finishedThread(w: SlackWorld, ts: string, opts: { user?: string; topic?: string; files?: Record<string, unknown>[] } = {}): Promise<void> {
  const user = opts.user ?? 'U1';
  await w.slack.sendEvent(w.endpoint, { ...mentionEvent(opts.topic ?? 'AI in education', { ts, user }), ...(opts.files ? { files: opts.files } : {}) });
  await expect.poll(() => findButton(w.slack.thread('C1', ts), ACTIONS.startNow), { timeout: 10_000 }).toBeDefined();
  await w.slack.sendEvent(w.endpoint, replyEvent('personalised learning', ts, { user }));
  await expect.poll(() => furtherButtonIn(w, ts), { timeout: 20_000 }).toBeDefined();
}

/** The follow-up answer message `id` of round `round`, once its final state (footer or failure) is shown. */
export async function answered(w: SlackWorld, ts: string, id: number, round = 1): Promise<FakeMessage> {
  const done = () => {
    const m = tagged(w, ts, `followup:${round}:${id}`);
    return m && /Answered from the report by|could not answer/.test(shown(m)) ? m : undefined;
  };
  await expect.poll(done, { timeout: 10_000 }).toBeDefined();
  return done()!;
}
