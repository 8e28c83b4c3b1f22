import { describe, expect, it } from 'vitest';
import { transition, type Rules } from '../../src/core/conversation.js';
import { CONTEXT_LIMITS, followupMessages, reportSummary, trimSections } from '../../src/core/followup-context.js';
import { pickImages, sniffImage } from '../../src/core/images.js';
import type { FileRef } from '../../src/core/ports/chat.js';
import type { ThreadState, Turn } from '../../src/core/ports/thread.js';
import { SqliteStore } from '../../src/store/sqlite.js';

const RULES: Rules = { clarify: true, answerBy: 'requester', maxAttempts: 2, language: 'auto' };
const IMAGES = { maxImages: 5, maxBytes: 10 * 1024 * 1024, types: ['image/jpeg', 'image/png', 'image/bmp', 'image/webp'] };
const REPORT = { round: 1, topic: 'batteries', answer: '# Batteries\n\nSolid-state cells are denser [[1]].\n\n## Costs\n\nStill high [[2]].\n', references: [{ index: 1, url: 'https://a.example/1', title: 'A', description: '' }, { index: 2, url: 'https://b.example/2', title: 'B', description: '' }], messageId: 'r1' };

function done(patch: Partial<ThreadState> = {}): ThreadState {
  return {
    key: 'k', platform: 'p', channel: 'C', requester: 'U1', topic: 'batteries', lang: 'en', state: 'done', step: 2, attempts: 1,
    notices: [], round: 1, version: 4, createdAt: 0, updatedAt: 0, clarifyMessageId: 'm1', progressMessageId: 'm2', question: 'Q?', answer: 'A',
    report: REPORT, turns: [], ...patch,
  };
}

describe('after the report', () => {
  it('a reply or a mention in a finished thread is a question for the chat model, by anyone, under their own hourly limit', () => {
    for (const input of [
      { type: 'reply' as const, user: 'U2', text: 'What about costs?', now: 5 },
      { type: 'mention' as const, user: 'U2', text: 'What about costs?', platform: 'p', channel: 'C', now: 5 },
    ]) {
      const t = transition(done(), input, RULES);
      expect(t.followup).toBe('U2');
      expect(t.admit).toBeUndefined();
      expect(t.state?.turns).toEqual([{ id: 1, user: 'U2', question: 'What about costs?', askedAt: 5 }]);
      expect(t.effects).toEqual([{ type: 'followup', id: 1 }]);
      expect(t.state?.state).toBe('done');
    }
  });

  it('numbers turns on, records the message, the answer or the failure on the right turn', () => {
    let s = transition(done(), { type: 'reply', user: 'U1', text: 'one', now: 1 }, RULES).state!;
    s = transition(s, { type: 'reply', user: 'U2', text: 'two', now: 2 }, RULES).state!;
    expect(s.turns!.map((x) => x.id)).toEqual([1, 2]);
    s = transition(s, { type: 'followup-posted', id: 2, messageId: 'f2', now: 3 }, RULES).state!;
    s = transition(s, { type: 'followup-answered', id: 2, answer: 'Two [[1]]', usage: { inputTokens: 10, outputTokens: 2 }, now: 4 }, RULES).state!;
    s = transition(s, { type: 'followup-failed', id: 1, now: 5 }, RULES).state!;
    expect(s.turns).toEqual([
      { id: 1, user: 'U1', question: 'one', askedAt: 1, failed: true },
      { id: 2, user: 'U2', question: 'two', askedAt: 2, messageId: 'f2', answer: 'Two [[1]]', usage: { inputTokens: 10, outputTokens: 2 } },
    ]);
    expect(transition(s, { type: 'followup-answered', id: 9, answer: 'x', now: 6 }, RULES).state).toBe(s);
  });

  it('a thread without a delivered report ignores replies and starts a new round on a mention, as before', () => {
    const failed = done({ state: 'failed', report: undefined });
    expect(transition(failed, { type: 'reply', user: 'U1', text: 'hello', now: 1 }, RULES).effects).toEqual([]);
    const t = transition(failed, { type: 'mention', user: 'U1', text: 'new topic', platform: 'p', channel: 'C', now: 1 }, RULES);
    expect(t.admit).toBe(true);
    expect(t.state).toMatchObject({ state: 'clarifying', topic: 'new topic', round: 2 });
  });

  it('Research further asks for a focus in a new round owned by whoever pressed it; the focus starts step 2 without a question, counted like a run', () => {
    const t = transition(done(), { type: 'action', action: 'further', user: 'U3', now: 7 }, RULES);
    expect(t.admit).toBeUndefined();
    expect(t.effects).toEqual([{ type: 'post-clarify' }]);
    expect(t.state).toMatchObject({ state: 'awaiting_answer', step: 1, round: 2, requester: 'U3', clarifyMessageId: undefined, progressMessageId: undefined });
    expect(t.state!.further).toMatchObject({ round: 1, topic: 'batteries', messageId: 'r1' });
    expect(t.state!.further!.summary).toContain('Solid-state cells are denser');
    expect(t.state!.report).toEqual(REPORT);
    // The question message is posted; no run starts until the focus is given.
    const posted = transition(t.state!, { type: 'posted', view: 'clarify', messageId: 'c2', now: 8 }, RULES);
    expect(posted.effects).toEqual([]);
    expect(transition(posted.state!, { type: 'reply', user: 'U1', text: 'costs', now: 9 }, RULES).effects).toEqual([{ type: 'notice', text: expect.stringMatching(/Only the person/), lang: 'en' }]);
    const focus = transition(posted.state!, { type: 'reply', user: 'U3', text: 'costs in 2027', now: 9 }, RULES);
    expect(focus.admit).toBe(true);
    expect(focus.state).toMatchObject({ state: 'queued', step: 2, answer: 'costs in 2027' });
    // A second press while the round is on does nothing.
    expect(transition(focus.state!, { type: 'action', action: 'further', user: 'U4', now: 10 }, RULES).effects).toEqual([]);
  });

  it('a delivered report is kept with the id of its first message, and a new report starts a fresh conversation', () => {
    const researching = done({ state: 'researching', report: REPORT, turns: [{ id: 1, user: 'U1', question: 'q', answer: 'a', askedAt: 0 }], round: 2, result: { answer: '# Two', references: [] }, reportDelivered: 0 });
    const first = transition(researching, { type: 'report-part', delivered: 1, total: 2, messageId: 'r2', now: 1 }, RULES).state!;
    expect(first.reportMessageId).toBe('r2');
    const end = transition(first, { type: 'report-part', delivered: 2, total: 2, messageId: 'r3', now: 2 }, RULES).state!;
    expect(end.state).toBe('done');
    expect(end.report).toEqual({ round: 2, topic: 'batteries', answer: '# Two', references: [], messageId: 'r2', pageUrl: undefined });
    expect(end.turns).toEqual([]);
  });

  it('after a restart, questions left unanswered within the hour are answered again; older or settled ones are not', () => {
    const turns: Turn[] = [
      { id: 1, user: 'U1', question: 'old', askedAt: 0 },
      { id: 2, user: 'U1', question: 'answered', answer: 'x', askedAt: 4_000_000 },
      { id: 3, user: 'U1', question: 'failed', failed: true, askedAt: 4_000_000 },
      { id: 4, user: 'U2', question: 'open', askedAt: 4_000_000 },
    ];
    expect(transition(done({ turns }), { type: 'recover', now: 4_100_000 }, RULES).effects).toEqual([{ type: 'followup', id: 4, resume: true }]);
    // In a cluster another process may be answering a question asked minutes ago: only older ones are taken up.
    expect(transition(done({ turns }), { type: 'recover', now: 4_100_000, shared: true }, RULES).effects).toEqual([]);
    expect(transition(done({ turns }), { type: 'recover', now: 4_200_000, shared: true }, RULES).effects).toEqual([{ type: 'followup', id: 4, resume: true }]);
  });
});

describe('images in a request', () => {
  const png = (name: string, size = 1000, mime = 'image/png'): FileRef => ({ id: name, name, size, mime });

  it('sends the first five images of a type the model reads and names the rest with why; other files stay files', () => {
    const files = [png('1.png'), png('big.png', 12 * 1024 * 1024), png('2.png'), png('anim.gif', 10, 'image/gif'), png('3.png'), png('4.png'), png('5.png'), png('6.png'), { id: 'd', name: 'doc.pdf', size: 5, mime: 'application/pdf' }];
    const picked = pickImages(files, IMAGES, 'en');
    expect(picked.images.map((f) => f.name)).toEqual(['1.png', '2.png', '3.png', '4.png', '5.png']);
    expect(picked.rest.map((f) => f.name)).toEqual(['doc.pdf']);
    expect(picked.skipped).toEqual(['big.png (over 10 MB)', 'anim.gif (only JPEG, PNG, BMP and WEBP images are read)', '6.png (at most 5 images are read)']);
    expect(pickImages(files, undefined, 'en')).toEqual({ images: [], rest: files, skipped: [] });
  });

  it('a mention with skipped images says so in the thread and keeps the rest', () => {
    const files = [png('a.png'), png('huge.png', 11 * 1024 * 1024)];
    const t = transition(undefined, { type: 'mention', user: 'U1', text: 'topic', platform: 'p', channel: 'C', files, now: 1 }, { ...RULES, images: IMAGES });
    expect(t.state!.images!.map((f) => f.name)).toEqual(['a.png']);
    expect(t.state!.files).toBeUndefined();
    expect(t.effects[0]).toEqual({ type: 'notice', text: 'Not sent to the research: huge.png (over 10 MB).', lang: 'en' });
  });

  it('tells the image type by its bytes', () => {
    expect(sniffImage(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0]))).toBe('image/png');
    expect(sniffImage(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0]))).toBe('image/jpeg');
    expect(sniffImage(Uint8Array.from([0x42, 0x4d, 0, 0]))).toBe('image/bmp');
    expect(sniffImage(new TextEncoder().encode('RIFF0000WEBPVP8 '))).toBe('image/webp');
    expect(sniffImage(new TextEncoder().encode('GIF89a'))).toBeUndefined();
    expect(sniffImage(new Uint8Array())).toBeUndefined();
  });
});

describe('what a follow-up question sends', () => {
  const turn = (id: number, size: number): Turn => ({ id, user: 'U1', question: `q${id}`, answer: `a${id}`.padEnd(size, '.'), askedAt: id });

  it('the instructions, the report and its numbered sources first, the earlier turns in order, the question last', () => {
    const m = followupMessages({ report: REPORT, earlier: [turn(1, 10), { id: 2, user: 'U2', question: 'pending', askedAt: 2 }, turn(3, 10)], question: 'Why?', lang: 'en' });
    expect(m[0]!.role).toBe('system');
    expect(m[0]!.content).toContain('Solid-state cells are denser [[1]].');
    expect(m[0]!.content).toContain('[2] B — https://b.example/2');
    expect(m[0]!.content).toMatch(/does not cover/);
    expect(m.slice(1).map((x) => [x.role, x.content.slice(0, 2)])).toEqual([['user', 'q1'], ['assistant', 'a1'], ['user', 'q3'], ['assistant', 'a3'], ['user', 'Wh']]);
  });

  it('drops the oldest turns first when the history is over its bound, and keeps the report whole when it fits', () => {
    const earlier = Array.from({ length: 12 }, (_, i) => turn(i + 1, 3000));
    const m = followupMessages({ report: REPORT, earlier, question: 'q', lang: 'en' });
    const asked = m.filter((x) => x.role === 'user').map((x) => x.content);
    // 16,000 characters of history hold five 3,000-character turns: the newest five.
    expect(asked).toEqual(['q8', 'q9', 'q10', 'q11', 'q12', 'q']);
    expect(CONTEXT_LIMITS.turns).toBeGreaterThanOrEqual(5);
  });

  it('a report over its bound loses whole sections from the end, each named', () => {
    const long = `# Title\n\nIntro.\n\n## One\n\n${'x'.repeat(500)}\n\n## Two\n\n${'y'.repeat(500)}\n\n## Three\n\n${'z'.repeat(500)}\n`;
    const trimmed = trimSections(long, 700, (h) => `[left out: ${h}]`);
    expect(trimmed).toContain('x'.repeat(500));
    expect(trimmed).not.toContain('y');
    expect(trimmed).toContain('[left out: Two]\n[left out: Three]');
    expect(trimSections('short', 700, () => '')).toBe('short');
  });

  it('the summary a further round starts from is the report opening without citation marks', () => {
    const summary = reportSummary(`# T\n\nFirst [[1]] para.\n\n${'## S\n\nmore text here.\n\n'.repeat(200)}`, 300);
    expect(summary.startsWith('# T\n\nFirst  para.')).toBe(true);
    expect(summary.length).toBeLessThanOrEqual(320);
  });
});

describe('the hourly limit in the store', () => {
  it('lets exactly `limit` hits through a burst, and more once the window has moved on', async () => {
    const store = new SqliteStore(':memory:');
    const results = await Promise.all(Array.from({ length: 50 }, () => store.hit('followup:U1', 20, 3_600_000, 1000)));
    expect(results.filter(Boolean)).toHaveLength(20);
    expect(await store.hit('followup:U2', 20, 3_600_000, 1000)).toBe(true);
    expect(await store.hit('followup:U1', 20, 3_600_000, 3_600_999)).toBe(false);
    expect(await store.hit('followup:U1', 20, 3_600_000, 3_601_000)).toBe(true);
    await store.close();
  });
});
