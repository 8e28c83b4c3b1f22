import { readFileSync } from 'node:fs';
import type { Card } from '../../src/platforms/feishu/cards.js';

/** test/fixtures/samples/feishu/card-v2-rules.json: Feishu's message and card JSON 2.0 rules, each with its source. */
const rules = JSON.parse(readFileSync(new URL('../fixtures/samples/feishu/card-v2-rules.json', import.meta.url), 'utf8')) as {
  api: { contentLimits: { cardOrPostMaxBytes: number } };
  card: {
    schema: { value: string };
    topLevel: { allowed: string[] };
    tags: { allowed: string[]; removedIn2: string[] };
    headerTemplate: { enum: string[] };
    headerTitle: { tags: string[] };
    flexMode: { enum: string[] };
    columnWidth: { pattern: string };
    buttonType: { enum: string[] };
    buttonText: { max: number };
    elementId: { pattern: string };
    tablesPerCard: { max: number };
    markdownNoLegacyLinkSyntax: { pattern: string };
  };
};
const r = rules.card;

type El = Record<string, unknown>;

/** Every rule of the table (errors and warnings) a card breaks, as a list. */
export function problems(card: Card): string[] {
  const out: string[] = [];
  const check = (ok: boolean, what: string) => ok || out.push(what);
  check(card.schema === r.schema.value, 'schema 2.0');
  for (const key of Object.keys(card)) check(r.topLevel.allowed.includes(key), `top-level property ${key}`);
  check((card.config as El | undefined)?.update_multi === true, 'config.update_multi true');
  const header = card.header as { template?: string; title?: { tag?: string; content?: string } } | undefined;
  check(header?.template === undefined || r.headerTemplate.enum.includes(header.template), `header template ${header?.template}`);
  check(header?.title !== undefined && r.headerTitle.tags.includes(String(header.title.tag)) && !!header.title.content, 'header title');
  const elements = (card.body as { elements?: El[] } | undefined)?.elements;
  check(Array.isArray(elements) && elements.length > 0, 'elements under body.elements');
  let tables = 0;
  const walk = (el: El, where: string, inForm: boolean, parent?: string) => {
    const tag = String(el.tag);
    check(r.tags.allowed.includes(tag) && !r.tags.removedIn2.includes(tag), `${where}: tag ${tag}`);
    if (el.element_id !== undefined) check(new RegExp(r.elementId.pattern).test(String(el.element_id)), `${where}: element_id`);
    if (tag === 'table') tables++;
    if (tag === 'column_set') {
      check(el.flex_mode === undefined || r.flexMode.enum.includes(String(el.flex_mode)), `${where}: flex_mode`);
      for (const c of el.columns as El[]) check(c.tag === 'column', `${where}: a child that is not a column`);
    }
    if (tag === 'column') {
      check(el.width === undefined || new RegExp(r.columnWidth.pattern).test(String(el.width)), `${where}: column width`);
      for (const c of (el.elements as El[]) ?? []) check(c.tag !== 'form' && c.tag !== 'table', `${where}: a form or table in a column`);
    }
    if (tag === 'button') {
      const label = (el.text as { content?: string } | undefined)?.content ?? '';
      check(el.type === undefined || r.buttonType.enum.includes(String(el.type)), `${where}: button type`);
      check(label.length > 0 && label.length <= r.buttonText.max, `${where}: button text`);
      check(el.url === undefined && el.value === undefined, `${where}: 1.0 url/value`);
      if (inForm) {
        check(!!el.name && ['submit', 'reset'].includes(String(el.form_action_type)), `${where}: form button name and form_action_type`);
        check(el.behaviors === undefined, `${where}: form button with behaviors`);
      } else check(Array.isArray(el.behaviors) && el.behaviors.length > 0, `${where}: button without behaviors`);
    }
    if (tag === 'markdown') check(!new RegExp(r.markdownNoLegacyLinkSyntax.pattern).test(String(el.content)), `${where}: legacy link syntax`);
    const children = [...((el.elements as El[] | undefined) ?? []), ...((el.columns as El[] | undefined) ?? [])];
    children.forEach((c, i) => walk(c, `${where}/${i}`, inForm || tag === 'form', tag));
    if (el.text && typeof el.text === 'object' && (el.text as El).tag) walk(el.text as El, `${where}/text`, inForm, tag);
    void parent;
  };
  (elements ?? []).forEach((el, i) => walk(el, `element ${i}`, false));
  check(tables <= r.tablesPerCard.max, `${tables} tables`);
  const bytes = Buffer.byteLength(JSON.stringify(card));
  check(bytes <= rules.api.contentLimits.cardOrPostMaxBytes, `${bytes} bytes`);
  return out;
}

