import { Lexer, walkTokens } from 'marked';
import { afterEach, describe, expect, it } from 'vitest';
import { escapePlain, neutraliseMarkdown } from '../../src/platforms/slack/escape.js';
import { mentionEvent, nextTs, slackWorld, type SlackWorld } from './harness.js';

const ZWSP = /\u200B/g;
/** A Slack token forms where `<` is directly followed by `!`, `@`, `#`, or a target up to `|` or `>`. */
const SLACK_TOKEN = /<[!@#]|<(?!\u200B)[^\s<>]*[|>]/;

describe('Slack escaping', () => {
  it('no Slack link of any scheme can form in markdown blocks, in prose or code, and the visible text stays', () => {
    const hostile = [
      'See <ftp://evil.example/x|the docs> and <slack://open?team=T1|open Slack> and <mailto:a@b.c|mail> and <tel:123|call>.',
      'Also <!channel>, <@U123>, <#C1|general>, <!subteam^S1|@team>, <javascript:alert(1)> and <www.evil.example|x>.',
      '`<slack://open|x>` and\n\n```\n<ftp://evil.example|y> <!here>\n```',
    ].join('\n\n');
    const out = neutraliseMarkdown(hostile);
    expect(out).not.toMatch(SLACK_TOKEN);
    expect(out.replace(ZWSP, '')).toContain('the docs> and <slack://open?team=T1|open Slack>');
    expect(out.replace(ZWSP, '')).toContain('```\n<ftp://evil.example|y> <!here>\n```');
  });

  it('escapePlain keeps a title readable while no mention or link can form', () => {
    const title = 'Report <!channel> for <@U1> on <ftp://x|y> @here';
    const out = escapePlain(title);
    expect(out).not.toMatch(SLACK_TOKEN);
    expect(out).not.toMatch(/@here/);
    expect(out.replace(ZWSP, '')).toBe(title);
  });
});

describe('Slack report from hostile model output', () => {
  let w: SlackWorld;
  afterEach(() => w?.close());

  it('the file title, the citations and the references carry no mention and no link but http(s)', async () => {
    w = await slackWorld({ SKIP_CLARIFICATION: 'true' });
    w.ds.script = {
      ...w.ds.script,
      report: '# Report <!channel> <ftp://evil.example|x>\n\nA claim [[1]] and another [[2]]. [Click](javascript:alert(1)) [[x]](javascript:alert(2)) <javascript:alert(3)> ![img](data:text/html,x).',
      references: [
        { url: 'javascript:alert(document.cookie)', title: 'Evil source' },
        { url: 'https://ok.example/two', title: 'Good source' },
      ],
    };
    const ts = nextTs();
    await w.slack.sendEvent(w.endpoint, mentionEvent('topic', { ts }));
    await expect.poll(() => w.slack.files.length, { timeout: 15_000 }).toBe(1);

    const title = w.slack.files[0]!.title ?? '';
    expect(title).not.toMatch(SLACK_TOKEN);
    expect(title.replace(ZWSP, '')).toBe('Report <!channel> <ftp://evil.example|x>');

    const markdown = w.slack
      .thread('C1', ts)
      .flatMap((m) => m.blocks.filter((b) => b.type === 'markdown').map((b) => String(b.text)))
      .join('\n\n');
    expect(markdown).toContain('A claim \\[1\\] and another [\\[2\\]](https://ok.example/two "Good source").');
    expect(markdown).toContain('1. Evil source');
    const hrefs: string[] = [];
    walkTokens(new Lexer().lex(markdown), (t) => {
      const bare = t.type === 'link' && t.raw === t.text && !t.raw.startsWith('<'); // a bare URL hides no target
      if ((t.type === 'link' && !bare) || t.type === 'image' || t.type === 'def') hrefs.push((t as { href: string }).href);
    });
    expect(hrefs.length).toBeGreaterThan(0);
    for (const href of hrefs) expect(href).toMatch(/^https?:\/\//);
    expect(markdown).not.toMatch(SLACK_TOKEN);
    expect(w.slack.files[0]!.content.toString()).not.toContain('javascript:alert(1))');
  });
});
