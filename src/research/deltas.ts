/**
 * Accumulates a text field that should arrive as deltas (`incremental_output: true`) and returns only the
 * new text. Defensive: a chunk that repeats everything received so far (a cumulative frame) yields just
 * its new suffix. Short prefixes are not trusted, since a real delta may start like the text so far.
 */
export class DeltaField {
  private text = '';

  static readonly MIN_CUMULATIVE_PREFIX = 8;

  push(chunk: string): string {
    if (!chunk) return '';
    let delta = chunk;
    if (this.text.length >= DeltaField.MIN_CUMULATIVE_PREFIX && chunk.startsWith(this.text)) {
      delta = chunk.slice(this.text.length);
    }
    this.text += delta;
    return delta;
  }

  get value(): string {
    return this.text;
  }
}

/** A set of DeltaFields by key, e.g. one per search round. */
export class DeltaFields {
  private readonly fields = new Map<string, DeltaField>();

  push(key: string, chunk: string): string {
    let field = this.fields.get(key);
    if (!field) {
      field = new DeltaField();
      this.fields.set(key, field);
    }
    return field.push(chunk);
  }
}
