import { elapsedSeconds } from '../../core/progress.js';
import { failureText, strings } from '../../core/i18n.js';
import type { View } from '../../core/ports/chat.js';

/** A progress view as a few plain lines: state and phase, the current round and its query, sources, tokens, time. */
export function progressLines(view: Extract<View, { kind: 'progress' }>): string[] {
  const t = strings(view.lang);
  const p = view.progress;
  const lines: string[] = [];
  if (view.state === 'queued') lines.push(view.position ? t.queued(view.position) : t.starting);
  else if (view.state === 'done') lines.push(t.done);
  else if (view.state === 'cancelled') lines.push(t.cancelled);
  else if (view.state === 'failed') lines.push(`${t.failed} ${failureText(t, view.failure)}`.trim());
  else lines.push(p ? (t.phase[p.phase] ?? p.phase) : t.starting);
  if (p) {
    const round = p.rounds.at(-1);
    if (round) lines.push(`${t.round(round.round)}: ${round.query || '…'}`);
    const stats = [t.sources(p.sources), p.usage ? t.tokens(p.usage.inputTokens + p.usage.outputTokens) : '', view.cost ? t.cost(view.cost) : '', t.elapsed(elapsedSeconds(p))];
    lines.push(stats.filter(Boolean).join(' · '));
  }
  return lines;
}

// CSI (ESC [ or C1 CSI … final byte), OSC/DCS/PM/APC/SOS strings up to BEL or ST (7- or 8-bit), two-byte ESC sequences.
const ESCAPE_SEQUENCE = /(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|(?:\x1b[\]P^_X]|[\x90\x98\x9d-\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[ -~]?/g;
// C0 but tab and newline (carriage return included: it lets text overwrite a line), DEL and C1.
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/** Text from the model or a person as it may reach the terminal: no escape sequence or control character but newline and tab. */
export function printable(text: string): string {
  return text.replace(ESCAPE_SEQUENCE, '').replace(CONTROL, '');
}

export function viewLines(view: View): string[] {
  const t = strings(view.lang);
  switch (view.kind) {
    case 'notice':
      return [view.text];
    case 'clarify':
      if (view.failure) return [`${t.failed} ${failureText(t, view.failure)}`];
      if (view.state === 'cancelled') return [t.cancelled];
      return view.question ? [t.clarifyIntro, view.question] : [t.thinking];
    case 'progress':
      return progressLines(view);
    case 'followup':
      // The terminal runs one research and ends: it never asks follow-ups, but can show an answer.
      return [view.question, view.failure ?? view.text, ...(view.footer ? [view.footer] : [])].filter(Boolean);
  }
}
