import { clip } from '../../core/progress-text.js';
import { keepHttpLinks } from '../../common/markdown.js';

const ZWSP = '\u200B';

/** A `<` that could open a Slack token: `<!…>`, `<@…>`, `<#…>`, or `<target>` / `<target|label>` of any scheme. */
const SLACK_TOKEN = /<(?=[!@#]|[^\s<>]*[|>])/g;

/**
 * Text for mrkdwn fields (section text, `text` fallbacks): `&`, `<` and `>` become entities, which turns
 * `<!channel>`, `<@U123>`, `<!subteam^…>` and `<https://x|y>` into plain text. Plain "@channel" is also
 * broken with a zero-width space, in case link_names is ever turned on.
 */
export function escapeMrkdwn(text: string): string {
  return breakAtMentions(text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
}

/** `escapeMrkdwn` within `max` characters: the text is cut before it is escaped, so no entity is cut in half. */
export function escapeClipped(text: string, max: number): string {
  let raw = clip(text, max);
  let out = escapeMrkdwn(raw);
  while (out.length > max) {
    raw = clip(raw, Math.max(1, raw.length - (out.length - max)));
    out = escapeMrkdwn(raw);
  }
  return out;
}

/**
 * Markdown for `markdown` blocks, where Slack's handling of `<…>` tokens is undocumented: links are kept only
 * with http(s) targets (the link policy), then the text goes through `escapePlain`, code included, since
 * Slack reads its tokens before any Markdown. The visible text stays the same.
 */
export function neutraliseMarkdown(markdown: string): string {
  return escapePlain(keepHttpLinks(markdown));
}

/**
 * Strings Slack shows without markup of ours (file titles and names, which Slack may still scan for tokens):
 * every `<` that could open a Slack token gets a zero-width space, so no mention or link of any scheme can form,
 * and "@channel" is broken the same way. Unlike entities, this keeps what people see the same.
 */
export function escapePlain(text: string): string {
  return breakAtMentions(text.replace(SLACK_TOKEN, `<${ZWSP}`));
}

function breakAtMentions(text: string): string {
  return text.replace(/@(channel|here|everyone|all)\b/gi, `@${ZWSP}$1`);
}
