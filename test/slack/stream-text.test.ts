import { describe, expect, it } from 'vitest';
import { leadOf, StreamText } from '../../src/platforms/slack/stream-text.js';

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

  it('a report body that opens with a line the streamed draft lacks: the line is the lead, the rest lines up, nothing twice', async () => {
    const text = new StreamText();
    text.fromView('# Title\n\nPara one.');
    const piece = text.next(10_000, 10_000) as { piece: string; sent: string };
    text.advance(piece.sent, '111.1');
    const lead = '*This report builds on the earlier report: [read it](https://x.slack.com/archives/C1/p1).*\n\n';
    const full = `${lead}# Title\n\nPara one.\n\nPara two.`;
    expect(text.align(full)).toBe(lead.length);
    // Delivering the whole body: only the paragraph not streamed yet is appended.
    const done = text.deliver(full, full.length, 5000);
    const next = text.next(10_000, 10_000) as { piece: string; sent: string };
    expect(next.piece).toBe('Para two.');
    text.advance(next.sent, '222.2');
    await expect(done).resolves.toBe(true);
    expect(text.shownOf(full)).toBe(full.length);
    // Where each part of the body shows: the lead's own message is the platform's; the body from the first streamed message.
    expect(text.messageAt(lead.length)).toBe('111.1');
    expect(text.messageAt(full.indexOf('Para two'))).toBe('222.2');
  });

  it('a draft piece in flight while the report arrives with a lead still counts once accepted: it is not sent again', async () => {
    const text = new StreamText();
    text.fromView('# Title\n\nPara one.');
    const first = text.next(10_000, 10_000) as { piece: string; sent: string };
    text.advance(first.sent, '111.1');
    text.fromView('# Title\n\nPara one.\n\nPara two.');
    const inFlight = text.next(10_000, 10_000) as { piece: string; sent: string };
    expect(inFlight.piece).toBe('Para two.');
    const full = 'Lead.\n\n# Title\n\nPara one.\n\nPara two.\n\nPara three.';
    expect(text.align(full)).toBe('Lead.\n\n'.length);
    // Accepted after the report took over, before its part is delivered.
    text.advance(inFlight.sent, '111.1');
    const done = text.deliver(full, full.length, 5000);
    const last = text.next(10_000, 10_000) as { piece: string; sent: string };
    expect(last.piece).toBe('Para three.');
    text.advance(last.sent, '111.1');
    await expect(done).resolves.toBe(true);
  });

  it('leadOf: none when nothing was streamed, when the body starts as streamed, or when blocks cannot be matched', () => {
    expect(leadOf('', 'Lead.\n\n# T')).toBe(0);
    expect(leadOf('# T\n\nA.', '# T\n\nA.\n\nB.')).toBe(0);
    // A citation linked since it was streamed: same first block, no lead.
    expect(leadOf('# T\n\nA [[1]].', '# T\n\nA [\\[1\\]](https://a.example).')).toBe(0);
    expect(leadOf('Something else.', 'Lead.\n\n# T')).toBe(0);
    // The first block shown changed, the second is found one block further on.
    expect(leadOf('A [[1]].\n\n# T2', 'Lead.\n\nA [\\[1\\]](https://a.example).\n\n# T2')).toBe('Lead.\n\n'.length);
  });

  it('a run whose text comes from the report only ignores the draft of its progress views', () => {
    const text = new StreamText();
    text.reportOnly = true;
    text.fromView('# Title\n\nPara one.\n\nPara two.');
    expect(text.next(10_000, 10_000)).toBeUndefined();
    void text.deliver('Lead.\n\n# Title\n\nPara one.', 'Lead.\n\n# Title\n\nPara one.'.length, 5000);
    expect(text.next(10_000, 10_000)).toMatchObject({ piece: 'Lead.\n\n# Title\n\nPara one.' });
    text.fail();
  });
});
