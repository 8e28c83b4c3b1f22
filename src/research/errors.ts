import { ResearchError, type ResearchErrorCode } from '../core/ports/research.js';

/** Maps DashScope's error code and HTTP status (see reference/dashscope.md §1.5) to a ResearchError code. */
export function classifyDashScopeError(status: number | undefined, code: string | undefined, message = ''): ResearchErrorCode {
  const c = code ?? '';
  if (/DataInspectionFailed/i.test(c) || /inappropriate content/i.test(message)) return 'content_blocked';
  if (c === 'InvalidApiKey' || c.startsWith('AccessDenied') || c.endsWith('.AccessDenied') || status === 401 || status === 403) {
    return 'auth';
  }
  if (['Arrearage', 'PrepaidBillOverdue', 'PostpaidBillOverdue', 'CommodityNotPurchased'].includes(c)) return 'quota';
  if (c === 'Throttling.AllocationQuota' && /free/i.test(message)) return 'quota';
  if (c.startsWith('Throttling') || c === 'LimitRequests' || status === 429) return 'rate_limited';
  if (c === 'RequestTimeOut' || status === 408) return 'timeout';
  if (c.startsWith('InternalError') || c === 'SystemError' || c === 'ModelUnavailable' || (status !== undefined && status >= 500)) {
    return 'unavailable';
  }
  return 'bad_request';
}

export function dashScopeError(
  status: number | undefined,
  body: { code?: unknown; message?: unknown; request_id?: unknown } | undefined,
  fallback: string,
): ResearchError {
  const upstreamCode = typeof body?.code === 'string' ? body.code : undefined;
  const message = typeof body?.message === 'string' && body.message ? body.message : fallback;
  const requestId = typeof body?.request_id === 'string' ? body.request_id : undefined;
  return new ResearchError(classifyDashScopeError(status, upstreamCode, message), message, { status, upstreamCode, requestId });
}

/** Turns anything thrown while talking to DashScope into a ResearchError. */
export function toResearchError(err: unknown, signal?: AbortSignal): ResearchError {
  if (err instanceof ResearchError) return err;
  if (signal?.aborted) return new ResearchError('cancelled', 'The research was cancelled.', { cause: err });
  const code = (err as { code?: string } | undefined)?.code ?? '';
  if (code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT') {
    return new ResearchError('timeout', 'DashScope sent nothing for too long.', { cause: err });
  }
  return new ResearchError('network', `Could not reach DashScope (${code || (err as Error)?.message || 'unknown error'}).`, {
    cause: err,
  });
}
