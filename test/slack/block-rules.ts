import { readFileSync } from 'node:fs';

/** test/fixtures/samples/slack/block-kit-limits.json: Slack's documented limits, each with its source. */
export const rules = JSON.parse(readFileSync(new URL('../fixtures/samples/slack/block-kit-limits.json', import.meta.url), 'utf8')) as {
  message: Record<string, { value: number }>;
  block: Record<string, { max?: number; min?: number; maxItems?: number; minItems?: number; allowed?: string[] }>;
  element: Record<string, { max?: number; enum?: string[]; type?: string }>;
  composition: { text: { types: string[]; min: number; max: number } };
};

export type Obj = Record<string, unknown>;
type TextObject = { type: string; text: string; emoji?: boolean; verbatim?: boolean };

/** Every rule of the table that applies to the blocks the bot sends, as a list of broken ones. */
export function problems(message: { text: string; blocks: unknown[] }): string[] {
  const out: string[] = [];
  const check = (ok: boolean, what: string) => ok || out.push(what);
  const text = (t: TextObject | undefined, where: string, max = rules.composition.text.max) => {
    check(t !== undefined && rules.composition.text.types.includes(t.type), `${where}: a text object`);
    if (!t) return;
    check(t.text.length >= rules.composition.text.min && t.text.length <= max, `${where}: ${t.text.length} characters (${rules.composition.text.min}–${max})`);
    check(t.emoji === undefined || t.type === 'plain_text', `${where}: emoji only on plain_text`);
    check(t.verbatim === undefined || t.type === 'mrkdwn', `${where}: verbatim only on mrkdwn`);
  };
  check(message.text.length > 0 && message.text.length <= rules.message.textMax!.value, `text: ${message.text.length} characters`);
  check(message.blocks.length <= rules.message.maxBlocks!.value, `${message.blocks.length} blocks`);
  let markdown = 0;
  const blockIds = new Set<string>();
  (message.blocks as Obj[]).forEach((b, i) => {
    const where = `block ${i} (${String(b.type)})`;
    if (b.block_id !== undefined) {
      check(String(b.block_id).length <= rules.block.block_id!.max! && !blockIds.has(String(b.block_id)), `${where}: block_id`);
      blockIds.add(String(b.block_id));
    }
    switch (b.type) {
      case 'section':
        text(b.text as TextObject, `${where} text`, rules.block['section.text']!.max);
        check(b.fields === undefined, `${where}: fields are not used`);
        break;
      case 'context': {
        const els = b.elements as TextObject[];
        const r = rules.block['context.elements']!;
        check(els.length >= r.minItems! && els.length <= r.maxItems!, `${where}: ${els.length} elements`);
        els.forEach((e, j) => {
          check(r.allowed!.includes(e.type), `${where} element ${j}: ${e.type}`);
          text(e, `${where} element ${j}`);
        });
        break;
      }
      case 'actions': {
        const els = b.elements as Obj[];
        const r = rules.block['actions.elements']!;
        check(els.length >= r.minItems! && els.length <= r.maxItems!, `${where}: ${els.length} elements`);
        const ids = new Set<string>();
        els.forEach((e, j) => {
          const at = `${where} button ${j}`;
          check(e.type === 'button', `${at}: a button`);
          const label = e.text as TextObject;
          check(label.type === rules.element['button.text']!.type, `${at}: plain_text label`);
          text(label, `${at} label`, rules.element['button.text']!.max);
          const actionId = String(e.action_id);
          check(actionId.length <= rules.element.action_id!.max! && !ids.has(actionId), `${at}: action_id`);
          ids.add(actionId);
          check(e.value === undefined || String(e.value).length <= rules.element['button.value']!.max!, `${at}: value`);
          check(e.style === undefined || rules.element['button.style']!.enum!.includes(String(e.style)), `${at}: style ${String(e.style)}`);
        });
        break;
      }
      case 'markdown':
        markdown += String(b.text).length;
        check(String(b.text).length <= rules.block['markdown.text']!.max!, `${where}: ${String(b.text).length} characters`);
        break;
      default:
        out.push(`${where}: a block type the bot does not send`);
    }
  });
  check(markdown <= rules.message.markdownBlocksTotalMax!.value, `markdown blocks: ${markdown} characters in all`);
  return out;
}
