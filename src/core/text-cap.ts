/** Longest topic, answer or question passed to a model; a longer one is cut and the person told. */
export const MAX_TEXT_CHARS = 4000;

/** At most MAX_TEXT_CHARS characters, never cutting a character in two. */
export function capText(text: string): { text: string; cut: boolean } {
  const chars = Array.from(text);
  return chars.length <= MAX_TEXT_CHARS ? { text, cut: false } : { text: chars.slice(0, MAX_TEXT_CHARS).join('').trimEnd(), cut: true };
}
