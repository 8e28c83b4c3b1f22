import { Lexer, walkTokens } from 'marked';
import { afterEach, describe, expect, it } from 'vitest';
import { cardMarkdown } from '../../src/platforms/feishu/escape.js';
import { markdownOf } from '../fakes/feishu.js';
import { feishuWorld, type FeishuWorld } from './harness.js';

const ZWSP = /\u200B/g;
/** Card Markdown tags that mention people or style text. */
const CARD_TAG = /<\s*\/?\s*(at|font|link|text_tag|number_tag|person)\b/i;

describe('Feishu card Markdown', () => {
  it('no tag can form in a code span or code block, and the code reads the same', () => {
    const md = 'Inline `<at user_id="all"></at>` and `&#60;at id=all&#62;&#60;/at&#62;`.\n\n```html\n<at id=all></at> <font color="red">x</font> <link url="https://x">y</link>\n```\n';
    const out = cardMarkdown(md);
    expect(out).not.toMatch(CARD_TAG);
    expect(out).not.toMatch(/&#\d/);
    expect(out.replace(ZWSP, '')).toBe(md);
    // Still code: the lexer finds the same spans and block.
    const code: string[] = [];
    walkTokens(new Lexer().lex(out), (t) => {
      if (t.type === 'codespan' || t.type === 'code') code.push((t as { text: string }).text.replace(ZWSP, ''));
    });
    expect(code).toEqual(['<at user_id="all"></at>', '&#60;at id=all&#62;&#60;/at&#62;', '<at id=all></at> <font color="red">x</font> <link url="https://x">y</link>']);
  });

  it('tags in prose become entities; links keep only http(s) targets', () => {
    const out = cardMarkdown('# T\n\nHi <at id=all></at> [x](javascript:alert(1)) [y](https://ok.example/) <javascript:z> ![i](data:x)');
    expect(out).toBe('#### T\n\nHi &#60;at id=all>&#60;/at> x [y](https://ok.example/) javascript:z i');
  });
});

describe('Feishu report from hostile model output', () => {
  let w: FeishuWorld;
  afterEach(() => w?.close());

  it('report cards carry no card tag and no link but http(s), code included', async () => {
    w = await feishuWorld({ SKIP_CLARIFICATION: 'true' });
    w.ds.script = {
      ...w.ds.script,
      report: '# Report\n\nA claim [[1]] and [[2]]. Try `<at user_id="all"></at>` or <at id=all></at>. [Click](javascript:alert(1)) [[x]](javascript:alert(2)).\n\n```\n<at id=all></at>\n```\n',
      references: [
        { url: 'javascript:alert(document.cookie)', title: 'Evil <at id=all></at>' },
        { url: 'https://ok.example/two', title: 'Good source' },
      ],
    };
    const event = w.feishu.userMessage({ text: 'topic', mentionBot: true });
    const root = (event.event as { message: { message_id: string } }).message.message_id;
    await w.deliver(event);
    await expect.poll(() => w.feishu.files.size, { timeout: 15_000 }).toBe(1);
    const md = w.feishu
      .thread(root)
      .filter((m) => m.msg_type === 'interactive')
      .flatMap((m) => markdownOf(m.content))
      .join('\n\n');
    expect(md).toContain('A claim \\[1\\] and [\\[2\\]](https://ok.example/two "Good source").');
    expect(md).toContain('Try `<\u200Bat user_id="all"><\u200B/at>`');
    expect(md).not.toMatch(CARD_TAG);
    const hrefs: string[] = [];
    walkTokens(new Lexer().lex(md), (t) => {
      if (t.type === 'link' || t.type === 'image' || t.type === 'def') hrefs.push((t as { href: string }).href);
    });
    expect(hrefs).toEqual(['https://ok.example/two', 'https://ok.example/two']);
  });
});
