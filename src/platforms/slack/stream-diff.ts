import type { AnyChunk } from '@slack/types';
import type { StreamChain } from './stream-chain.js';
import type { StreamText } from './stream-text.js';
import type { StreamContent } from './stream-view.js';

export interface Diff {
  chunks: AnyChunk[];
  milestone: boolean;
  /** The content does not fit in the current message: roll over first. */
  overflow: boolean;
  record(now: number): void;
}

/**
 * What the current segment (or a `fresh` one) must be sent to show `content`: changed tasks, the plan title, report
 * text that fits in `room`. `recorded` is told when Slack accepted it.
 */
export function streamDiff(chain: StreamChain, text: StreamText, content: StreamContent, title: string, room: number, fresh: boolean, recorded: (now: number) => void): Diff {
  const tasks = chain.diff(content, title, fresh);
  const chunks = tasks.chunks;
  let { milestone, size } = tasks;
  let overflow = !fresh && size > room;
  const next = overflow ? undefined : text.next(room - size - 2, chain.maxChars - 2);
  const textSent = typeof next === 'object' ? next.sent : text.sent;
  if (typeof next === 'object') {
    // Each piece ends with its paragraph break: Slack may drop whitespace at the start of an appended chunk.
    chunks.push({ type: 'markdown_text', text: `${next.piece}\n\n` });
    size += next.piece.length + 2;
    milestone = true;
  } else if (next === 'later' && !fresh) {
    overflow = true;
  } else if (next === 'later') {
    // Not even a fresh message has room for the next block beside the tasks it carries: rolling on would only
    // post empty messages. The report parts carry the rest of the text.
    text.freeze();
  }
  return {
    chunks,
    milestone,
    overflow,
    record: (now) => {
      tasks.record(size);
      text.advance(textSent, chain.segments.at(-1)?.ts);
      recorded(now);
    },
  };
}
