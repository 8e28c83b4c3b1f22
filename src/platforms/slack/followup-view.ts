import type { KnownBlock } from '@slack/types';
import { splitMarkdown } from '../../common/markdown.js';
import { strings } from '../../core/i18n.js';
import type { View } from '../../core/ports/chat.js';
import { clip } from '../../core/progress-text.js';
import { escapeClipped, escapeMrkdwn, neutraliseMarkdown } from './escape.js';

export type FollowupView = Extract<View, { kind: 'followup' }>;

/**
 * The answer's Markdown one message holds. Slack allows 12,000 characters across a message's markdown blocks (the
 * cumulative reading, as for the report's messages); the answer is bounded (~2,000 tokens) and fits with room to spare.
 */
export const ANSWER_MAX = 11_000;
/** Characters of the question quoted above the answer, and its lines (the rest is joined onto the last). */
const QUESTION_MAX = 2_400;
const QUESTION_LINES = 12;
/** A Slack user id: only such an asker becomes a `<@…>` mention; anything else is escaped text. */
const USER_ID = /^[UW][A-Z0-9]{1,20}$/;

/**
 * A follow-up question and its answer: who asked and the question (quoted, escaped), then the answer as the report's
 * text is shown (a `markdown` block under the link policy, citations linked to the sources), and the model, tokens and
 * cost once done, or what went wrong.
 */
export function renderFollowup(view: FollowupView): { text: string; blocks: KnownBlock[] } {
  const t = strings(view.lang).followup;
  const blocks: KnownBlock[] = [section(`*${askedBy(t.asked, view.asker)}*\n${quote(view.question)}`)];
  if (view.state === 'thinking') {
    blocks.push(context(`:hourglass_flowing_sand: ${escapeClipped(view.text || t.thinking, 500)}`));
  } else {
    const answer = answerMarkdown(view.text);
    if (answer) blocks.push({ type: 'markdown', text: answer } as KnownBlock);
    else if (view.state === 'writing') blocks.push(context(`:hourglass_flowing_sand: ${escapeClipped(t.thinking, 500)}`));
  }
  if (view.state === 'done' && view.footer) blocks.push(context(escapeClipped(view.footer, 2_000)));
  if (view.state === 'failed') blocks.push(section(`:warning: ${escapeClipped(view.failure || t.failed(''), 2_000)}`));
  const fallback = `${askedBy(t.asked, view.asker)}: ${escapeClipped(view.question, 2_000)}`;
  return { text: fallback, blocks };
}

/** "Question from <@U…>": the asker as a mention when it is a user id, else as escaped text. */
function askedBy(asked: (who: string) => string, asker: string): string {
  const slot = '\u0000ASKER\u0000';
  const who = USER_ID.test(asker) ? `<@${asker}>` : escapeClipped(asker, 100);
  return escapeMrkdwn(asked(slot)).split(slot).join(who);
}

/** The question as a mrkdwn block quote: escaped first, so the quote marks are the only markup. */
function quote(question: string): string {
  const lines = question.trim().split(/\r?\n/).filter((l) => l.trim());
  const kept = lines.length > QUESTION_LINES ? [...lines.slice(0, QUESTION_LINES - 1), lines.slice(QUESTION_LINES - 1).join(' ')] : lines;
  return escapeClipped(kept.join('\n') || '…', QUESTION_MAX)
    .split('\n')
    .map((l) => `>${l}`)
    .join('\n');
}

/**
 * The answer as the report's text is shown on Slack, within what one message holds: whole blocks from the start, and an
 * ellipsis where the rest is left out (never half a link, table or code block).
 */
export function answerMarkdown(text: string): string {
  const md = neutraliseMarkdown(text.trim());
  if (md.length <= ANSWER_MAX) return md;
  // The first part as the report's messages are split: a block too large for it is split by its own structure.
  return `${splitMarkdown(md, ANSWER_MAX - 10)[0]!.trimEnd()}\n\n…`;
}

function section(text: string): KnownBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: clip(text, 2_900) } };
}

function context(text: string): KnownBlock {
  return { type: 'context', elements: [{ type: 'mrkdwn', text: clip(text, 2_900) }] };
}
