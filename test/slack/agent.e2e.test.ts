import { afterEach, describe, expect, it } from 'vitest';
import { REPORT_FILE_MARK } from '../fakes/dashscope.js';
import { ACTIONS } from '../../src/platforms/slack/blocks.js';
import { findButton, mentionEvent, nextTs, replyEvent, slackWorld, type SlackWorld } from './harness.js';

let w: SlackWorld;
afterEach(() => w?.close());

const env = { RESEARCH_BACKEND: 'deep-search-agent', DEEP_SEARCH_AGENT_ID: 'aid-test' };

describe('Slack on the deep-search-agent backend', () => {
  it('runs the conversation with an attached file: session file, question, report from the report file, .md and .html', async () => {
    w = await slackWorld(env);
    const ts = nextTs();
    const file = w.slack.userFile('notes.txt', Buffer.from('my own research notes'));
    await w.slack.sendEvent(w.endpoint, { ...mentionEvent('solid-state batteries', { ts }), files: [file] });
    await expect.poll(() => findButton(w.slack.thread('C1', ts), ACTIONS.startNow), { timeout: 10_000 }).toBeDefined();
    await w.slack.sendEvent(w.endpoint, replyEvent('costs', ts));
    await expect.poll(() => w.slack.files.length, { timeout: 15_000 }).toBe(2);

    const chats = w.ds.requests.filter((r) => r.path.endsWith('/chat/completions'));
    expect(chats).toHaveLength(2);
    for (const c of chats) expect((c.body.parameters?.agent_options as { session_files?: string[] }).session_files).toHaveLength(1);
    expect([...w.ds.agent.uploads.values()].every((u) => u.data?.toString() === 'my own research notes')).toBe(true);

    const markdown = w.slack
      .thread('C1', ts)
      .flatMap((m) => m.blocks.filter((b) => b.type === 'markdown').map((b) => String(b.text)))
      .join('\n');
    expect(markdown).toContain(REPORT_FILE_MARK);
    expect(markdown).toContain('[\\[1\\]](https://example.org/source-1');
    expect(markdown).not.toMatch(/qwen:/);
    expect(w.slack.files.map((f) => f.filename).sort()).toEqual(['solid-state-batteries-in-2026.html', 'solid-state-batteries-in-2026.md']);
    expect(w.slack.refused).toEqual([]);
  });
});
