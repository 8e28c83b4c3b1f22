import { splitMarkdown } from '../../common/markdown.js';
import { strings } from '../../core/i18n.js';
import type { View } from '../../core/ports/chat.js';
import { card, md, plain, type Card } from './card-elements.js';
import { cardMarkdown } from './escape.js';

type FollowupView = Extract<View, { kind: 'followup' }>;

/** The answer's Markdown per card at most (a follow-up answer is short; a longer one is cut, never refused). */
const ANSWER_MAX_CHARS = 7000;
/** Within Feishu's 30 KB per card and 3 tables per card (as report cards, see outbound.ts and live-progress.ts). */
const CARD_MAX_BYTES = 28_000;
const TABLES_PER_CARD = 3;
/** An open_id as Feishu writes it: the only id put into an `<at>` tag. */
const OPEN_ID = /^ou_[A-Za-z0-9_-]{1,100}$/;
/** The header shows the question up to this many characters; the whole question is in the card when it is longer. */
const TITLE_MAX = 100;

/**
 * A follow-up answer as a card: who asked (a mention of them) and what, then the answer (Markdown with the report's
 * citations linked, neutralised like the report), the model, tokens and cost as a grey note, or why it failed.
 * Updated by patching like the other cards; the answer is cut to fit one card.
 */
export function followupCard(view: FollowupView): Card {
  const t = strings(view.lang).followup;
  const asker = OPEN_ID.test(view.asker) ? `<at id=${view.asker}></at>` : cardMarkdown(view.asker);
  const head = [md(`**${t.asked(asker)}**`)];
  // The question is a person's words: plain text, never Markdown.
  if (view.question.length > TITLE_MAX) head.push(plain(view.question));
  const status = view.state === 'thinking' || (view.state === 'writing' && !view.text.trim()) ? `⏳ ${t.thinking}` : '';
  const foot = [
    ...(view.state === 'failed' && view.failure ? [md(`⚠️ ${cardMarkdown(view.failure)}`)] : []),
    ...(view.footer ? [md(`<font color='grey'>${cardMarkdown(view.footer)}</font>`)] : []),
  ];
  const build = (answer: string): Card =>
    card(view.question, template(view), [...head, { tag: 'hr' }, md(answer || status || '…'), ...foot], view.question);
  let answer = status ? '' : fit(cardMarkdown(view.text), ANSWER_MAX_CHARS);
  let c = build(answer);
  while (Buffer.byteLength(JSON.stringify(c)) > CARD_MAX_BYTES && answer.length > 200) {
    answer = fit(answer, Math.floor(answer.length * 0.8));
    c = build(answer);
  }
  return c;
}

/** The answer's first part within `max` characters and three tables, marked as cut when it was. */
function fit(markdown: string, max: number): string {
  const parts = splitMarkdown(markdown, max, { maxTables: TABLES_PER_CARD });
  return parts.length > 1 ? `${parts[0]}\n\n…` : (parts[0] ?? '');
}

function template(view: FollowupView): string {
  return view.state === 'done' ? 'green' : view.state === 'failed' ? 'red' : 'blue';
}
