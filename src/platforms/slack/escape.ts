import { keepHttpLinks, mapProse } from '../../core/markdown.js';

const ZWSP = '\u200B';

/**
 * Text for mrkdwn fields (section text, `text` fallbacks): `&`, `<` and `>` become entities, which turns
 * `<!channel>`, `<@U123>`, `<!subteam^…>` and `<https://x|y>` into plain text. Plain "@channel" is also
 * broken with a zero-width space, in case link_names is ever turned on.
 */
export function escapeMrkdwn(text: string): string {
  return breakAtMentions(text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
}

/**
 * Markdown for `markdown` blocks, where Slack's handling of `<!…>` tokens is undocumented: every `<` that
 * could open a Slack token (`<!`, `<@`, `<#`, `<http…|`) gets a zero-width space, so no mention or Slack link
 * can form; links are kept only with http(s) targets. The visible text stays the same.
 */
export function neutraliseMarkdown(markdown: string): string {
  const tokens = (s: string) => breakAtMentions(s.replace(/<(?=[!@#]|(?:https?|mailto):[^>]*\|)/gi, `<${ZWSP}`));
  return tokens(mapProse(markdown, keepHttpLinks));
}

function breakAtMentions(text: string): string {
  return text.replace(/@(channel|here|everyone|all)\b/gi, `@${ZWSP}$1`);
}
