import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { reportFiles, type Report } from '../../core/report.js';
import type { Platform, ReportPart, ThreadKey, View } from '../../core/ports/chat.js';
import { printable, viewLines } from './render.js';

export interface TerminalEvents {
  /** The clarifying question is open and waits for an answer. */
  question(text: string): void;
  /** The run reached an end state. */
  finished(state: 'done' | 'failed' | 'cancelled', reportPath?: string): void;
}

/** The terminal as a platform: a redrawn status block on a TTY, one line per change otherwise; the report goes to a file. */
export class TerminalPlatform implements Platform {
  readonly name = 'terminal';
  private block = 0;
  private lastLine = '';
  private reportPath: string | undefined;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly reportsDir: string,
    private readonly events: TerminalEvents,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async post(_thread: ThreadKey, view: View): Promise<string> {
    this.block = 0;
    this.print(view, false);
    return view.kind;
  }

  async update(_thread: ThreadKey, _messageId: string, view: View, final: boolean): Promise<void> {
    this.print(view, view.kind === 'progress');
    if (view.kind === 'clarify' && view.open && view.question) this.events.question(view.question);
    const state = view.kind === 'notice' ? undefined : view.state;
    if (final && (state === 'done' || state === 'failed' || state === 'cancelled')) this.events.finished(state, this.reportPath);
  }

  /** One part: the report file (and any files the backend made beside it). */
  reportParts(_thread: ThreadKey, report: Report): (ReportPart & { report: Report })[] {
    return [{ label: 'report file', report }];
  }

  async postReportPart(_thread: ThreadKey, part: ReportPart): Promise<void> {
    const { report } = part as ReportPart & { report: Report };
    await mkdir(this.reportsDir, { recursive: true });
    const day = this.clock().toISOString().slice(0, 10);
    const [markdown, ...others] = reportFiles(report);
    // The first free name of <day>-<slug>.md, <day>-<slug>-2.md, …: 'wx' claims it, so no report overwrites another.
    for (let n = 1; ; n++) {
      const name = (file: { name: string }) => `${day}-${n === 1 ? file.name : file.name.replace(/(\.[^.]*)?$/, `-${n}$1`)}`;
      try {
        await writeFile(join(this.reportsDir, name(markdown!)), markdown!.content, { flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw err;
      }
      this.reportPath = join(this.reportsDir, name(markdown!));
      for (const file of others) await writeFile(join(this.reportsDir, name(file)), file.content);
      return;
    }
  }

  private print(view: View, redraw: boolean): void {
    // The lines carry the model's and people's text: only the bot's own escape sequences may reach the terminal.
    const lines = viewLines(view).map(printable);
    if (this.out.isTTY && redraw) {
      // Redraw the status block in place (counting the rows a line with a newline takes).
      if (this.block > 0) this.out.write(`\x1b[${this.block}F\x1b[J`);
      const rows = lines.flatMap((l) => l.split('\n'));
      this.out.write(rows.join('\n') + '\n');
      this.block = rows.length;
      return;
    }
    const text = lines.join(' | ');
    if (text === this.lastLine) return;
    this.lastLine = text;
    this.block = 0;
    this.out.write(text + '\n');
  }
}
