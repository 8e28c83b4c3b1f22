import { DeltaField } from './deltas.js';
import { streamGeneration, type GenerationClientOptions } from './generation.js';
import { ResearchError, type Usage } from '../core/ports/research.js';
import type { FollowupEvent, FollowupModel, ModelMessage } from '../core/ports/followup.js';

export interface FollowupModelOptions extends GenerationClientOptions {
  /** The longest answer, in tokens (`parameters.max_tokens`; default 2000). */
  maxTokens?: number;
}

export const DEFAULT_FOLLOWUP_MAX_TOKENS = 2000;

/**
 * A DashScope chat model (`FOLLOWUP_MODEL`, qwen-plus by default) on the native text-generation endpoint, streamed
 * (reference/dashscope.md §3b): `result_format: "message"` and `incremental_output: true`, so each frame carries
 * the next piece of `output.choices[0].message.content` and the cumulative `usage`; the last frame has
 * `finish_reason: "stop"`. Errors map as for research runs (sse.ts, errors.ts); a stream that ends without
 * "stop" (the connection closed, or the answer hit max_tokens) is `truncated`. Aborting the signal closes the
 * connection.
 */
export class DashScopeFollowupModel implements FollowupModel {
  readonly model: string;
  private readonly maxTokens: number;

  constructor(private readonly opts: FollowupModelOptions) {
    this.model = opts.model;
    this.maxTokens = opts.maxTokens ?? DEFAULT_FOLLOWUP_MAX_TOKENS;
  }

  /** The request body: the messages as they are, streamed message-format output capped at max_tokens. */
  requestBody(messages: ModelMessage[]): Record<string, unknown> {
    return {
      model: this.model,
      input: { messages: messages.map((m) => ({ role: m.role, content: m.content })) },
      parameters: { result_format: 'message', incremental_output: true, max_tokens: this.maxTokens },
    };
  }

  async *answer(messages: ModelMessage[], signal?: AbortSignal): AsyncGenerator<FollowupEvent> {
    const text = new DeltaField();
    let usage: Usage | undefined;
    let finish: string | undefined;
    let requestId: string | undefined;
    for await (const frame of streamGeneration(this.opts, this.requestBody(messages), signal)) {
      const json = frame.json;
      if (typeof json.request_id === 'string') requestId = json.request_id;
      const choice = firstChoice(json.output);
      const delta = text.push(choice.content);
      if (delta) yield { type: 'delta', text: delta };
      const next = toUsage(json.usage);
      if (next && (next.inputTokens !== usage?.inputTokens || next.outputTokens !== usage?.outputTokens)) {
        usage = next;
        yield { type: 'usage', usage };
      }
      if (choice.finishReason && choice.finishReason !== 'null') finish = choice.finishReason;
    }
    if (finish === 'stop') return;
    const message =
      finish === 'length'
        ? `The answer reached its length limit (max_tokens ${this.maxTokens}) before it was finished.`
        : 'The answer stream ended before the answer was finished.';
    throw new ResearchError('truncated', message, { requestId });
  }
}

/** `output.choices[0]` of a message-format frame; `output.text` of an older text-format frame. */
function firstChoice(output: unknown): { content: string; finishReason?: string } {
  if (!output || typeof output !== 'object') return { content: '' };
  const o = output as { choices?: unknown; text?: unknown; finish_reason?: unknown };
  const choice = Array.isArray(o.choices) ? (o.choices[0] as { message?: { content?: unknown }; finish_reason?: unknown } | undefined) : undefined;
  if (choice) {
    const content = choice.message?.content;
    return { content: typeof content === 'string' ? content : '', finishReason: str(choice.finish_reason) };
  }
  return { content: typeof o.text === 'string' ? o.text : '', finishReason: str(o.finish_reason) };
}

function toUsage(raw: unknown): Usage | undefined {
  const u = raw as { input_tokens?: unknown; output_tokens?: unknown } | undefined;
  if (typeof u?.output_tokens !== 'number') return undefined;
  return { inputTokens: Number(u.input_tokens) || 0, outputTokens: u.output_tokens };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
