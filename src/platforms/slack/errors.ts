/** What went wrong in a Web API call, read one way everywhere: Slack's `error` code, else the client's own code. */
export interface SlackFailure {
  /** `ratelimited`, `message_not_found`, … or the client's code (`slack_webapi_request_error`, `ETIMEDOUT`). */
  code: string | undefined;
  rateLimited: boolean;
  /** Seconds Slack asked to wait, for a rate limit. */
  retryAfter?: number;
}

export function slackFailure(err: unknown): SlackFailure {
  const e = err as { code?: string; retryAfter?: number; data?: { error?: string } } | undefined;
  const rateLimited = e?.code === 'slack_webapi_rate_limited_error';
  return { code: e?.data?.error ?? e?.code, rateLimited, retryAfter: rateLimited ? e?.retryAfter : undefined };
}

/** Errors after which editing the same message again cannot succeed. */
export const PERMANENT_EDIT_ERRORS: ReadonlySet<string> = new Set(['message_not_found', 'cant_update_message', 'channel_not_found', 'is_archived', 'invalid_blocks', 'msg_too_long']);

/** What a workspace without message streaming answers (GovSlack, older plans, a token or scope that cannot stream). */
export const STREAMING_UNAVAILABLE: ReadonlySet<string> = new Set(['unknown_method', 'feature_not_enabled', 'method_deprecated', 'missing_scope', 'not_allowed_token_type']);

/** Slack may not have heard the call (no answer, a network or server error): the same call again, later. */
export function transient(failure: SlackFailure): boolean {
  return !failure.code || /^(slack_webapi_request_error|slack_webapi_http_error|internal_error|fatal_error|request_timeout|service_unavailable|ETIMEDOUT)$/.test(failure.code);
}
