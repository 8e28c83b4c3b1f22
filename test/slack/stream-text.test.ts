import { describe, expect, it } from 'vitest';
import { StreamText } from '../../src/platforms/slack/stream-text.js';

describe('StreamText: the report text of a streamed run', () => {
  it('an append accepted after its block was rendered anew (a citation linked) still counts: nothing is sent twice', () => {
    const text = new StreamText();
    text.fromView('Para one.\n\nPara two [[1]].');
    const first = text.next(10_000, 10_000);
    expect(first).toMatchObject({ piece: 'Para one.\n\nPara two [[1]].' });
    // While that append is in flight, the citation gets its link: the shown text is no longer a prefix.
    text.fromView('Para one.\n\nPara two [\\[1\\]](https://a.example/).\n\nPara three.');
    text.advance((first as { sent: string }).sent);
    const second = text.next(10_000, 10_000);
    expect(second).toMatchObject({ piece: 'Para three.' });
  });

  it('a block too large for any message freezes the text (the report parts carry it), never an endless wait', () => {
    const text = new StreamText();
    text.fromView(`Short.\n\n${'x'.repeat(500)}\n\nnext`);
    expect(text.next(100, 10_000)).toMatchObject({ piece: 'Short.' });
    text.advance('Short.\n\n');
    expect(text.next(100, 200)).toBeUndefined();
    expect(text.frozen).toBe(true);
  });
});
