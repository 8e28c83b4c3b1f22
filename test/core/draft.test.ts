import { describe, expect, it } from 'vitest';
import { draftMarkdown } from '../../src/core/report.js';

const refs = [{ index: 1, url: 'https://a.example/x', title: 'A', description: '' }];

describe('draftMarkdown: the report while it is written', () => {
  it('shows only complete blocks, with citations linked and the link policy applied', () => {
    const draft = '# Title\n\nFirst paragraph [[1]] and [bad](javascript:x).\n\nSecond paragraph, still bei';
    const out = draftMarkdown(draft, refs);
    expect(out).toBe('# Title\n\nFirst paragraph [\\[1\\]](https://a.example/x "A") and bad.');
    expect(out).not.toContain('Second');
  });

  it('never shows a half-written table or code block; the final draft shows everything', () => {
    const table = '| a | b |\n|---|---|\n| 1 | 2 |\n| 3 |';
    expect(draftMarkdown(`Intro.\n\n${table}`, [])).toBe('Intro.');
    expect(draftMarkdown('Intro.\n\n```js\nconst x = 1;\n', [])).toBe('Intro.');
    expect(draftMarkdown(`Intro.\n\n${table}`, [], true)).toContain('| 3 |');
    expect(draftMarkdown('', [])).toBe('');
  });
});
