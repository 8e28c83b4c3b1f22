/**
 * Where a JSON text goes wrong, as "line L, column C", without quoting it: V8's own message quotes the text around
 * the error (in a config file that may be a token), and names a position only for some errors. Called after
 * JSON.parse failed; a small strict scanner finds the first character no JSON parser would take.
 */
export function jsonErrorPlace(text: string): string {
  let offset: number | undefined;
  try {
    offset = jsonErrorOffset(text);
  } catch {
    offset = undefined; // nested too deep to scan
  }
  if (offset === undefined) return 'a syntax error';
  const before = text.slice(0, offset).split('\n');
  const place = `line ${before.length}, column ${before.at(-1)!.length + 1}`;
  return offset >= text.length ? `it ends too early, at ${place}` : `a syntax error at ${place}`;
}

class Stop {
  constructor(readonly offset: number) {}
}

/** The offset of the first character that breaks the JSON grammar (the length when the text ends early). */
export function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  const fail = (): never => {
    throw new Stop(i);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const expect = (c: string) => {
    ws();
    if (text[i] !== c) fail();
    i++;
  };
  const string = () => {
    expect('"');
    for (;;) {
      if (i >= text.length) fail();
      const c = text[i]!;
      if (c === '"') return void i++;
      if (c < ' ') fail();
      if (c === '\\') {
        i++;
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) fail();
      }
      i++;
    }
  };
  const items = (close: string, item: () => void) => {
    i++;
    ws();
    if (text[i] === close) return void i++;
    for (;;) {
      item();
      ws();
      if (text[i] === ',') i++;
      else if (text[i] === close) return void i++;
      else fail();
    }
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') return items('}', () => (string(), expect(':'), value()));
    if (c === '[') return items(']', value);
    if (c === '"') return string();
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, i)) return void (i += literal.length);
    }
    const number = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400))?.[0];
    if (!number) fail();
    i += number!.length;
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
    return undefined;
  } catch (err) {
    if (err instanceof Stop) return Math.min(err.offset, text.length);
    throw err;
  }
}
