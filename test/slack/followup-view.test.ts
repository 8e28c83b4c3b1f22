import { describe, expect, it } from 'vitest';
import type { View } from '../../src/core/ports/chat.js';
import type { Lang } from '../../src/core/ports/thread.js';
import { draftMarkdown } from '../../src/core/report.js';
import { ACTIONS, renderView } from '../../src/platforms/slack/blocks.js';
import { ANSWER_MAX, answerMarkdown } from '../../src/platforms/slack/followup-view.js';
import { finalBlocks, type ProgressView } from '../../src/platforms/slack/stream-view.js';
import { THREADS } from '../fixtures/views.js';
import { problems, type Obj } from './block-rules.js';

const HOSTILE = 'Tell <!channel> <@U123> <https://evil.example|x> @here & "q" [a](javascript:alert(1)) ';
const REFS = [
  { index: 1, title: 'Adaptive tutors', url: 'https://example.org/source-1', description: '' },
  { index: 2, title: 'Engagement <!here>', url: 'https://example.org/source-2?a=1&b=2', description: '' },
];
const ANSWER = 'Adaptive tutors pick the next exercise [[1]].\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nEngagement improves [[1,2]].';
const STATES = ['thinking', 'writing', 'done', 'failed'] as const;

type FollowupView = Extract<View, { kind: 'followup' }>;

function followup(over: Partial<FollowupView> = {}): FollowupView {
  return { kind: 'followup', lang: 'en', asker: 'U0AB12CD', question: 'What about engagement?', state: 'done', text: draftMarkdown(ANSWER, REFS, true), footer: 'Answered from the report by qwen-plus · 1,234 tokens · estimated cost ¥0.01', ...over };
}

/** Follow-up views in every state, both languages, ordinary and hostile and overlong. */
function views(): { name: string; view: FollowupView }[] {
  const out: { name: string; view: FollowupView }[] = [];
  for (const lang of ['en', 'zh'] as Lang[]) {
    for (const long of [false, true]) {
      for (const state of STATES) {
        const text = state === 'thinking' ? 'Reading the report…' : long ? draftMarkdown(`${HOSTILE}[[1]]\n\n`.repeat(800), REFS, true) : draftMarkdown(ANSWER, REFS, true);
        out.push({
          name: `${state} (${lang}${long ? ', long' : ''})`,
          view: followup({
            lang,
            state,
            text,
            asker: long ? `${HOSTILE}U1` : 'U0AB12CD',
            question: long ? `${HOSTILE}\n`.repeat(300) : '参与度如何？ & <b>',
            footer: state === 'done' ? (long ? HOSTILE.repeat(100) : 'qwen-plus · 20 tokens') : undefined,
            failure: state === 'failed' ? (long ? HOSTILE.repeat(100) : 'I could not answer this question.') : undefined,
          }),
        });
      }
    }
  }
  return out;
}

const markdownOf = (m: { blocks: unknown[] }) => (m.blocks as Obj[]).filter((b) => b.type === 'markdown').map((b) => String(b.text));

describe('Slack follow-up answer view', () => {
  it.each(views().map((v) => [v.name, v.view] as const))('%s: within every Block Kit limit of the rule table', (_name, view) => {
    expect(problems(renderView(view, THREADS.slack))).toEqual([]);
  });

  it('nothing from people or the model can mention anyone or form a Slack link, in the blocks or the fallback text', () => {
    for (const { name, view } of views()) {
      const all = JSON.stringify(renderView(view, THREADS.slack));
      for (const token of ['<!channel>', '<!here>', '<@U123>', '<https://evil.example|', '@here']) expect(all, name).not.toContain(token);
      // Markdown links form only in the answer's markdown block, and only to http(s) targets (mrkdwn shows `[a](…)` as text).
      for (const md of markdownOf(renderView(view, THREADS.slack))) expect(md, name).not.toMatch(/\]\(\s*javascript:/);
    }
  });

  it('names who asked as a mention and quotes the question, escaped', () => {
    const m = renderView(followup({ question: 'Is A < B & C > D?\nAnd <!channel>?' }), THREADS.slack);
    const head = JSON.stringify(m.blocks[0]);
    expect(head).toContain('Question from <@U0AB12CD>');
    expect(head).toContain('>Is A &lt; B &amp; C &gt; D?\\n>And &lt;!channel&gt;?');
    expect(m.text).toBe('Question from <@U0AB12CD>: Is A &lt; B &amp; C &gt; D?\nAnd &lt;!channel&gt;?');
    // An asker that is not a user id is text, not a token.
    const odd = renderView(followup({ asker: 'U1><!channel' }), THREADS.slack);
    expect(JSON.stringify(odd)).toContain('Question from U1&gt;&lt;!channel');
    expect(JSON.stringify(odd)).not.toContain('<@U1');
    expect(JSON.stringify(renderView(followup({ lang: 'zh' }), THREADS.slack).blocks[0])).toContain('<@U0AB12CD> 的问题');
  });

  it('shows the answer as the report is shown: a markdown block, citations linked to the sources, tables kept', () => {
    const m = renderView(followup(), THREADS.slack);
    const [answer] = markdownOf(m);
    expect(answer).toContain('[\\[1\\]](https://example.org/source-1 "Adaptive tutors")');
    expect(answer).toContain('[\\[2\\]](https://example.org/source-2?a=1&b=2');
    expect(answer).toContain('| a | b |');
    // The source's title from the web is neutralised like the report's.
    expect(answer).not.toContain('<!here>');
    const all = JSON.stringify(m.blocks);
    expect(all).toContain('Answered from the report by qwen-plus');
  });

  it('thinking shows the waiting line, failed the failure, and no state offers a button', () => {
    const thinking = renderView(followup({ state: 'thinking', text: 'Reading the report…', footer: undefined }), THREADS.slack);
    expect(JSON.stringify(thinking.blocks)).toContain(':hourglass_flowing_sand: Reading the report…');
    expect(markdownOf(thinking)).toEqual([]);
    const failed = renderView(followup({ state: 'failed', text: '', footer: undefined, failure: 'I could not answer this question. DashScope could not answer just now.' }), THREADS.slack);
    expect(JSON.stringify(failed.blocks)).toContain(':warning: I could not answer this question.');
    for (const { view } of views()) expect(JSON.stringify(renderView(view, THREADS.slack).blocks)).not.toContain('"actions"');
  });

  it('an answer longer than a message holds keeps whole blocks and says it goes on', () => {
    const long = Array.from({ length: 400 }, (_, i) => `Paragraph ${i} with a citation [\\[1\\]](https://example.org/source-1 "t").`).join('\n\n');
    const md = answerMarkdown(long);
    expect(md.length).toBeLessThanOrEqual(ANSWER_MAX);
    expect(md.endsWith('\n\n…')).toBe(true);
    expect(md).toContain('Paragraph 0 with');
    // Cut between paragraphs: the last one kept is whole, its link closed.
    expect(md.replace(/\n\n…$/, '')).toMatch(/"t"\)\.$/);
  });
});

describe('"Research further" on a finished report', () => {
  const progress = (over: Partial<ProgressView> = {}): ProgressView => ({ kind: 'progress', lang: 'en', topic: 'AI in education', state: 'done', words: 1200, ...over });
  const furtherOf = (blocks: unknown[]) =>
    (blocks as Obj[]).filter((b) => b.type === 'actions').flatMap((b) => (b.elements as { action_id: string; value: string; text: { text: string } }[]).filter((e) => e.action_id === ACTIONS.further));

  it('the edited progress message offers it once done, only when the core does', () => {
    const m = renderView(progress({ further: true }), THREADS.slack);
    expect(furtherOf(m.blocks)).toEqual([expect.objectContaining({ value: THREADS.slack, text: { type: 'plain_text', text: 'Research further' } })]);
    expect(problems(m)).toEqual([]);
    expect(furtherOf(renderView(progress(), THREADS.slack).blocks)).toEqual([]);
    expect(furtherOf(renderView(progress({ state: 'researching', further: true }), THREADS.slack).blocks)).toEqual([]);
    expect(furtherOf(renderView(progress({ lang: 'zh', further: true }), THREADS.slack).blocks)[0]!.text.text).toBe('深入研究');
  });

  it('the streamed message carries it under the feedback buttons', () => {
    const blocks = finalBlocks(progress({ further: true }), THREADS.slack) as unknown as Obj[];
    expect(blocks.map((b) => b.type)).toEqual(['context_actions', 'actions']);
    expect(furtherOf(blocks)).toHaveLength(1);
    expect((finalBlocks(progress(), THREADS.slack) as unknown as Obj[]).map((b) => b.type)).toEqual(['context_actions']);
  });
});
