/**
 * The chat model (qwen-plus and friends) as the fake DashScope serves it on the native text-generation endpoint,
 * frame for frame like the recorded captures (reference/dashscope.md §3b; cnblogs/dashscope-sdk
 * `conversation-generation-message-sse.response.body.txt`): `result_format: "message"` frames carry
 * `output.choices[0].message.content` and `finish_reason: "null"` until a last frame with empty content and
 * `finish_reason: "stop"`; `usage` is cumulative, with `total_tokens`. Without `incremental_output: true` each
 * frame repeats the text so far; `result_format: "text"` frames carry `output.text` and `output.finish_reason`.
 */
import type { Behaviour, RecordedRequest, StreamStats } from './dashscope.js';

export const CHAT_REQUEST_ID = '9188e907-56c2-9849-97f6-23f130f7fed7';

/** The fake's answer to a follow-up question: it cites the report's sources as the bot's prompt asks. */
export const DEFAULT_FOLLOWUP_ANSWER =
  'Adaptive tutors choose the next exercise from a model of what each learner knows [[1]]. ' +
  'The studies report better engagement and outcomes, with caveats about data quality [[2,3]].';

/** How the fake answers one chat request. Anything left out comes from the FakeChatModel's defaults. */
export interface ChatTurn {
  answer?: string;
  /** The last frame's usage (earlier frames count up to it). */
  usage?: { inputTokens: number; outputTokens: number };
  /** Something going wrong: an HTTP error, an `event:error` frame, a dropped connection or silence. */
  fault?: Behaviour;
  /** Wait this long before the response starts. */
  delayMs?: number;
  /** How the stream ends: "stop" (default), "length" (max_tokens reached), or with no final frame at all. */
  finish?: 'stop' | 'length' | 'none';
}

export class FakeChatModel implements StreamStats {
  /** Every request for a chat model, in order. */
  readonly requests: RecordedRequest[] = [];
  /** Scripts for the next requests, one each, in order; then the defaults. */
  readonly turns: ChatTurn[] = [];
  answer = DEFAULT_FOLLOWUP_ANSWER;
  /** Characters per frame. */
  chunk = 12;
  frameDelayMs = 0;
  open = 0;
  maxOpen = 0;
  clientAborts = 0;
  readonly streams: { start: number; end: number }[] = [];

  enqueue(...turns: ChatTurn[]): this {
    this.turns.push(...turns);
    return this;
  }

  next(): ChatTurn {
    return this.turns.shift() ?? {};
  }
}

/** Whether a request is for a deep-research model (everything else is a chat model). */
export function isDeepResearchModel(model: string): boolean {
  return model.startsWith('qwen-deep-research');
}

/** Why the real endpoint would refuse these messages, or undefined. */
export function invalidChatMessages(messages: unknown): string | undefined {
  if (!Array.isArray(messages) || messages.length === 0) return 'messages must not be empty';
  for (const m of messages as { role?: unknown; content?: unknown }[]) {
    if (!['system', 'user', 'assistant'].includes(String(m?.role)) || typeof m.content !== 'string' || !m.content) {
      return 'Role must be user or assistant and Content length must be greater than 0';
    }
  }
  return undefined;
}

/** The frames of one streamed answer. */
export function chatFrames(turn: ChatTurn, model: FakeChatModel, parameters: Record<string, unknown>, inputChars: number): Record<string, unknown>[] {
  const answer = turn.answer ?? model.answer;
  const pieces: string[] = [];
  for (let i = 0; i < answer.length; i += model.chunk) pieces.push(answer.slice(i, i + model.chunk));
  const inputTokens = turn.usage?.inputTokens ?? Math.max(1, Math.ceil(inputChars / 2));
  const outputTokens = turn.usage?.outputTokens ?? Math.max(1, Math.ceil(answer.length / 2));
  const messageFormat = parameters.result_format === 'message';
  const incremental = parameters.incremental_output === true;
  let sent = '';
  const frame = (piece: string, finish: string, n: number) => {
    sent += piece;
    const content = incremental ? piece : sent;
    const out = Math.max(1, Math.round((outputTokens * n) / Math.max(1, pieces.length)));
    return {
      output: messageFormat
        ? { choices: [{ message: { content, role: 'assistant' }, finish_reason: finish }] }
        : { text: content, finish_reason: finish },
      usage: { total_tokens: inputTokens + out, input_tokens: inputTokens, output_tokens: out },
      request_id: CHAT_REQUEST_ID,
    };
  };
  const frames = pieces.map((p, i) => frame(p, 'null', i + 1));
  const finish = turn.finish ?? 'stop';
  if (finish !== 'none') frames.push(frame('', finish, pieces.length));
  return frames;
}
