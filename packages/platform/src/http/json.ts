/**
 * Strict JSON for request bodies: what `JSON.parse` accepts, minus duplicate keys (which it
 * silently resolves to the last one, hiding a user's mistake) and `__proto__` keys.
 */
import { AppError } from './errors.ts';
import { withoutEchoedInput } from './problem.ts';
import { formatIssuePath } from '@defib/contracts';

/** Parses a JSON request body; throws a 400 `AppError` that says what is wrong and where. */
export function parseJsonBody(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? withoutEchoedInput(error.message) : 'unparseable';
    throw AppError.badRequest(`malformed JSON body: ${reason}`);
  }
  rejectAmbiguousKeys(text);
  return value;
}

type Frame =
  | { kind: 'object'; keys: Set<string>; key: string | undefined; expectKey: boolean }
  | { kind: 'array'; index: number };

/**
 * Walks valid JSON text once, iteratively (no recursion, so depth cannot overflow the stack),
 * and throws at the first duplicate or `__proto__` key, naming its path and position.
 */
function rejectAmbiguousKeys(text: string): void {
  const frames: Frame[] = [];
  let i = 0;
  while (i < text.length) {
    const char = text.charAt(i);
    switch (char) {
      case '{':
        frames.push({ kind: 'object', keys: new Set(), key: undefined, expectKey: true });
        break;
      case '[':
        frames.push({ kind: 'array', index: 0 });
        break;
      case '}':
      case ']':
        frames.pop();
        break;
      case ',': {
        const top = frames.at(-1);
        if (top?.kind === 'object') top.expectKey = true;
        else if (top?.kind === 'array') top.index += 1;
        break;
      }
      case ':': {
        const top = frames.at(-1);
        if (top?.kind === 'object') top.expectKey = false;
        break;
      }
      case '"': {
        const start = i;
        i += 1;
        while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
        const top = frames.at(-1);
        if (top?.kind === 'object' && top.expectKey) {
          const key = JSON.parse(text.slice(start, i + 1)) as string;
          // The path is built only for a problem: building it for every key is quadratic in the depth.
          const path = () => formatIssuePath([...frames.slice(0, -1).map(segmentOf), key]);
          if (key === '__proto__') throw keyProblem(`key "__proto__" is not allowed`, path(), text, start);
          if (top.keys.has(key)) throw keyProblem(`duplicate key "${key}"`, path(), text, start);
          top.keys.add(key);
          top.key = key;
        }
        break;
      }
      default:
        break;
    }
    i += 1;
  }
}

function segmentOf(frame: Frame): string | number {
  return frame.kind === 'object' ? (frame.key ?? '') : frame.index;
}

function keyProblem(message: string, path: string, text: string, offset: number): AppError {
  const { line, column } = lineAndColumn(text, offset);
  return AppError.badRequest(`malformed JSON body: ${message} at line ${line}, column ${column}`, {
    issues: [{ path, message }],
  });
}

/** 1-based line and column of `offset` in `text`. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i += 1) {
    if (text[i] === '\n') {
      line += 1;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}
