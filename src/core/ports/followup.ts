import type { Usage } from './research.js';

/** The contract with the chat model that answers follow-up questions about a report. Knows nothing about chat platforms. */

export interface ModelMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export type FollowupEvent =
  /** More of the answer (incremental). */
  | { type: 'delta'; text: string }
  /** Tokens used so far (the last one counts). */
  | { type: 'usage'; usage: Usage };

/**
 * A streaming chat model (`FOLLOWUP_MODEL`, qwen-plus by default). Errors are `ResearchError`s with the same
 * codes as research runs; aborting the signal closes the connection.
 */
export interface FollowupModel {
  readonly model: string;
  answer(messages: ModelMessage[], signal?: AbortSignal): AsyncIterable<FollowupEvent>;
}
