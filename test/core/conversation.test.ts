import { describe, expect, it } from 'vitest';
import { transition, type Effect, type Input, type Rules } from '../../src/core/conversation.js';
import type { RunState, ThreadState } from '../../src/core/ports/thread.js';

const RULES: Rules = { clarify: true, answerBy: 'requester', maxAttempts: 2, language: 'auto' };

/** A thread as it typically is in each state: ids of the messages it has posted, its run under way or not. */
function thread(state: RunState, patch: Partial<ThreadState> = {}): ThreadState {
  const step1 = state === 'clarifying' || state === 'awaiting_answer';
  return {
    key: 'k',
    platform: 'p',
    channel: 'C',
    requester: 'U1',
    topic: 'topic',
    lang: 'en',
    state,
    step: step1 ? 1 : 2,
    attempts: 1,
    running: state === 'clarifying' || state === 'researching',
    notices: [],
    round: 1,
    version: 3,
    createdAt: 0,
    updatedAt: 0,
    clarifyMessageId: 'm1',
    progressMessageId: step1 ? undefined : 'm2',
    question: state === 'clarifying' ? undefined : 'Q?',
    answer: step1 ? undefined : 'A',
    result: state === 'researching' ? { answer: '# R', references: [] } : undefined,
    reportDelivered: state === 'researching' ? 0 : undefined,
    ...patch,
  };
}

const INPUTS: Record<string, Input> = {
  mention: { type: 'mention', user: 'U1', text: 'new topic', platform: 'p', channel: 'C', now: 10 },
  reply: { type: 'reply', user: 'U1', text: 'an answer', now: 10 },
  'reply cancel': { type: 'reply', user: 'U1', text: 'cancel', now: 10 },
  'reply by other': { type: 'reply', user: 'U2', text: 'mine', now: 10 },
  'start-now': { type: 'action', action: 'start-now', user: 'U1', now: 10 },
  'answer form': { type: 'action', action: 'answer', user: 'U1', text: 'form answer', now: 10 },
  cancel: { type: 'action', action: 'cancel', user: 'U1', now: 10 },
  retry: { type: 'action', action: 'retry', user: 'U1', now: 10 },
  started: { type: 'started', now: 10 },
  clarified: { type: 'clarified', question: 'Q2?', now: 10 },
  direct: { type: 'direct', now: 10 },
  answered: { type: 'answered', result: { answer: '# Report', references: [] }, now: 10 },
  'posted clarify': { type: 'posted', view: 'clarify', messageId: 'mX', now: 10 },
  'posted progress': { type: 'posted', view: 'progress', messageId: 'mY', now: 10 },
  'post-failed clarify': { type: 'post-failed', view: 'clarify', now: 10 },
  'post-failed progress': { type: 'post-failed', view: 'progress', now: 10 },
  published: { type: 'published', url: 'https://bot.example/reports/x', now: 10 },
  'report-part 1/3': { type: 'report-part', delivered: 1, total: 3, now: 10 },
  'report-part 3/3': { type: 'report-part', delivered: 3, total: 3, now: 10 },
  failed: { type: 'failed', code: 'timeout', retryable: true, now: 10 },
  recover: { type: 'recover', now: 10 },
};

/**
 * Every state × every input: `from | input | to | effects`. `to` is the new state, `=` when nothing changes
 * (not even a field); effects are listed by type, `!` marks a final view, `~` a post that may adopt an earlier
 * one, `(admit)` an input that must pass the caps.
 */
const TABLE = `
  none | mention | clarifying | post-clarify (admit)
  none | reply | = |
  none | reply cancel | = |
  none | reply by other | = |
  none | start-now | = |
  none | answer form | = |
  none | cancel | = |
  none | retry | = |
  none | started | = |
  none | clarified | = |
  none | direct | = |
  none | answered | = |
  none | posted clarify | = |
  none | posted progress | = |
  none | post-failed clarify | = |
  none | post-failed progress | = |
  none | published | = |
  none | report-part 1/3 | = |
  none | report-part 3/3 | = |
  none | failed | = |
  none | recover | = |
  clarifying | mention | clarifying | notice
  clarifying | reply | clarifying | notice
  clarifying | reply cancel | cancelled | abort status show-clarify
  clarifying | reply by other | clarifying | notice
  clarifying | start-now | = |
  clarifying | answer form | = |
  clarifying | cancel | cancelled | abort status show-clarify
  clarifying | retry | = |
  clarifying | started | clarifying | show-clarify status
  clarifying | clarified | awaiting_answer | show-clarify status
  clarifying | direct | researching | show-clarify post-progress
  clarifying | answered | = |
  clarifying | posted clarify | clarifying |
  clarifying | posted progress | clarifying |
  clarifying | post-failed clarify | = |
  clarifying | post-failed progress | = |
  clarifying | published | = |
  clarifying | report-part 1/3 | = |
  clarifying | report-part 3/3 | = |
  clarifying | failed | failed | show-clarify status
  clarifying | recover | clarifying | notice run
  awaiting_answer | mention | queued | show-clarify post-progress (admit)
  awaiting_answer | reply | queued | show-clarify post-progress (admit)
  awaiting_answer | reply cancel | cancelled | abort status show-clarify
  awaiting_answer | reply by other | awaiting_answer | notice
  awaiting_answer | start-now | queued | show-clarify post-progress (admit)
  awaiting_answer | answer form | queued | show-clarify post-progress (admit)
  awaiting_answer | cancel | cancelled | abort status show-clarify
  awaiting_answer | retry | = |
  awaiting_answer | started | = |
  awaiting_answer | clarified | = |
  awaiting_answer | direct | = |
  awaiting_answer | answered | = |
  awaiting_answer | posted clarify | awaiting_answer |
  awaiting_answer | posted progress | awaiting_answer |
  awaiting_answer | post-failed clarify | = |
  awaiting_answer | post-failed progress | = |
  awaiting_answer | published | = |
  awaiting_answer | report-part 1/3 | = |
  awaiting_answer | report-part 3/3 | = |
  awaiting_answer | failed | = |
  awaiting_answer | recover | = | show-clarify
  queued | mention | queued | notice
  queued | reply | queued | notice
  queued | reply cancel | cancelled | abort status show-progress!
  queued | reply by other | queued | notice
  queued | start-now | = |
  queued | answer form | = |
  queued | cancel | cancelled | abort status show-progress!
  queued | retry | = |
  queued | started | researching | show-progress status
  queued | clarified | = |
  queued | direct | = |
  queued | answered | = |
  queued | posted clarify | queued |
  queued | posted progress | queued | run
  queued | post-failed clarify | = |
  queued | post-failed progress | failed | status
  queued | published | = |
  queued | report-part 1/3 | = |
  queued | report-part 3/3 | = |
  queued | failed | failed | show-progress! status
  queued | recover | queued | run
  researching | mention | researching | notice
  researching | reply | researching | notice
  researching | reply cancel | cancelled | abort status show-progress!
  researching | reply by other | researching | notice
  researching | start-now | = |
  researching | answer form | = |
  researching | cancel | cancelled | abort status show-progress!
  researching | retry | = |
  researching | started | = |
  researching | clarified | = |
  researching | direct | = |
  researching | answered | researching | publish-page
  researching | posted clarify | researching |
  researching | posted progress | researching |
  researching | post-failed clarify | = |
  researching | post-failed progress | = |
  researching | published | researching | post-report
  researching | report-part 1/3 | researching | post-report
  researching | report-part 3/3 | done | show-progress! status
  researching | failed | failed | show-progress! status
  researching | recover | = | post-report~
  done | mention | clarifying | post-clarify (admit)
  done | reply | = |
  done | reply cancel | = |
  done | reply by other | = |
  done | start-now | = |
  done | answer form | = |
  done | cancel | = |
  done | retry | = |
  done | started | = |
  done | clarified | = |
  done | direct | = |
  done | answered | = |
  done | posted clarify | done |
  done | posted progress | done |
  done | post-failed clarify | = |
  done | post-failed progress | = |
  done | published | = |
  done | report-part 1/3 | = |
  done | report-part 3/3 | = |
  done | failed | = |
  done | recover | = |
  failed | mention | clarifying | post-clarify (admit)
  failed | reply | = |
  failed | reply cancel | = |
  failed | reply by other | = |
  failed | start-now | = |
  failed | answer form | = |
  failed | cancel | = |
  failed | retry | queued | show-progress run (admit)
  failed | started | = |
  failed | clarified | = |
  failed | direct | = |
  failed | answered | = |
  failed | posted clarify | failed |
  failed | posted progress | failed |
  failed | post-failed clarify | = |
  failed | post-failed progress | = |
  failed | published | = |
  failed | report-part 1/3 | = |
  failed | report-part 3/3 | = |
  failed | failed | = |
  failed | recover | = |
  cancelled | mention | clarifying | post-clarify (admit)
  cancelled | reply | = |
  cancelled | reply cancel | = |
  cancelled | reply by other | = |
  cancelled | start-now | = |
  cancelled | answer form | = |
  cancelled | cancel | = |
  cancelled | retry | = |
  cancelled | started | = |
  cancelled | clarified | = |
  cancelled | direct | = |
  cancelled | answered | = |
  cancelled | posted clarify | cancelled |
  cancelled | posted progress | cancelled |
  cancelled | post-failed clarify | = |
  cancelled | post-failed progress | = |
  cancelled | published | = |
  cancelled | report-part 1/3 | = |
  cancelled | report-part 3/3 | = |
  cancelled | failed | = |
  cancelled | recover | = |
`;

const describeEffect = (e: Effect) => e.type + ('final' in e && e.final ? '!' : '') + ('resume' in e && e.resume ? '~' : '');

describe('transition: every state × every input', () => {
  const rows = TABLE.trim().split('\n').map((line) => line.split('|').map((c) => c.trim()));
  it('covers every state and input', () => {
    expect(rows).toHaveLength(8 * Object.keys(INPUTS).length);
  });
  it.each(rows)('%s + %s → %s: %s', (from, name, to, effects) => {
    const s = from === 'none' ? undefined : thread(from as RunState);
    const t = transition(s, INPUTS[name]!, RULES);
    expect(t.state === s ? '=' : (t.state?.state ?? '-')).toBe(to);
    expect(`${t.effects.map(describeEffect).join(' ')}${t.admit ? ' (admit)' : ''}`.trim()).toBe(effects ?? '');
  });
});

describe('transition: what a restart finds', () => {
  const recover = (s: ThreadState, now = 10) => transition(s, { type: 'recover', now }, RULES);

  it('a question never confirmed posted is posted (or adopted) first; its run follows the post', () => {
    const t = recover(thread('clarifying', { clarifyMessageId: undefined, attempts: 0, running: false }));
    expect(t.effects).toEqual([{ type: 'post-clarify', resume: true }]);
    const posted = transition(t.state, { type: 'posted', view: 'clarify', messageId: 'm9', now: 11 }, RULES);
    expect(posted.state?.clarifyMessageId).toBe('m9');
    expect(posted.effects).toEqual([{ type: 'run' }]);
  });

  it('a progress message never confirmed posted is posted before the run; a started run is announced', () => {
    expect(recover(thread('queued', { progressMessageId: undefined, running: false })).effects).toEqual([{ type: 'post-progress', resume: true }]);
    const t = recover(thread('researching', { progressMessageId: undefined, result: undefined }));
    expect(t.state?.state).toBe('queued');
    expect(t.effects.map((e) => e.type)).toEqual(['notice', 'post-progress']);
  });

  it('a report half delivered resumes at its next part', () => {
    const t = recover(thread('researching', { reportDelivered: 2 }));
    expect(t.effects).toEqual([{ type: 'post-report', resume: true }]);
    expect(t.state?.reportDelivered).toBe(2);
  });

  it('runs interrupted as often as allowed fail with Retry; open questions older than a day are left alone', () => {
    const t = recover(thread('researching', { attempts: 2, result: undefined }));
    expect(t.state).toMatchObject({ state: 'failed', failure: { code: 'interrupted', retryable: true } });
    expect(recover(thread('awaiting_answer', { updatedAt: 0 }), 86_400_001).effects).toEqual([]);
    expect(recover(thread('awaiting_answer', { clarifyMessageId: undefined })).effects).toEqual([{ type: 'post-clarify', resume: true }]);
  });

  it('a question that could not be posted fails the thread before anything is billed; Retry posts it again', () => {
    const fresh = thread('clarifying', { clarifyMessageId: undefined, attempts: 0, running: false });
    const failed = transition(fresh, { type: 'post-failed', view: 'clarify', now: 11 }, RULES);
    expect(failed.state).toMatchObject({ state: 'failed', failure: { code: 'not_posted', retryable: true } });
    expect(failed.effects.map((e) => e.type)).not.toContain('run');
    const retried = transition(failed.state, { type: 'action', action: 'retry', user: 'U1', now: 12 }, RULES);
    expect(retried).toMatchObject({ state: { state: 'clarifying' }, effects: [{ type: 'post-clarify', resume: false }], admit: true });
  });
});
