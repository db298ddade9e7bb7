/**
 * Safe YAML for request bodies: YAML 1.2 core schema only (no custom or language tags, no
 * `<<` merges), one document, unique scalar keys, and a bound on alias expansion so a
 * "billion laughs" document is refused instead of exhausting memory.
 */
import { isScalar, LineCounter, parseDocument, visit, type YAMLError } from 'yaml';
import { AppError } from './errors.ts';

/** Alias dereferences allowed while building the value; real manifests need few if any. */
export const YAML_MAX_ALIAS_COUNT = 100;

/** Parses a YAML request body; throws a 400 `AppError` naming the line and column. */
export function parseYamlBody(text: string): unknown {
  try {
    return parseStrictly(text);
  } catch (error) {
    if (error instanceof AppError) throw error;
    // The parser recurses; absurd nesting overflows the stack. Still the client's fault.
    throw AppError.badRequest('malformed YAML body: the document is nested too deeply or cannot be parsed');
  }
}

function parseStrictly(text: string): unknown {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, {
    version: '1.2',
    schema: 'core',
    customTags: [],
    merge: false,
    uniqueKeys: true,
    strict: true,
    prettyErrors: false,
    logLevel: 'error',
    lineCounter,
  });
  // Unresolved tags (`!!js/function`, `!custom`) are only warnings to the library; here they are errors.
  const [problem] = [...document.errors, ...document.warnings];
  if (problem !== undefined) {
    if (problem.code === 'BLOCK_AS_IMPLICIT_KEY' || problem.code === 'MULTILINE_IMPLICIT_KEY') throw overIndented(text, problem, lineCounter);
    const message = problem.code === 'MULTIPLE_DOCS' ? 'a body holds exactly one YAML document' : problem.message;
    throw yamlProblem(message, positionOf(problem, lineCounter));
  }

  let complexKey: { offset: number | undefined } | undefined;
  let protoKey: { offset: number | undefined } | undefined;
  visit(document, {
    Pair(_, pair) {
      if (!isScalar(pair.key)) {
        complexKey = { offset: (pair.key as { range?: [number, number, number] } | null)?.range?.[0] };
        return visit.BREAK;
      }
      if (pair.key.value === '__proto__') {
        protoKey = { offset: pair.key.range?.[0] };
        return visit.BREAK;
      }
      return undefined;
    },
  });
  if (complexKey !== undefined) throw yamlProblem('mapping keys must be plain values', positionAt(complexKey.offset, lineCounter));
  if (protoKey !== undefined) throw yamlProblem('key "__proto__" is not allowed', positionAt(protoKey.offset, lineCounter));

  try {
    return document.toJS({ maxAliasCount: YAML_MAX_ALIAS_COUNT });
  } catch (error) {
    if (error instanceof ReferenceError && /alias/i.test(error.message)) {
      throw AppError.badRequest(`malformed YAML body: too many alias references (at most ${YAML_MAX_ALIAS_COUNT})`);
    }
    throw error;
  }
}

function yamlProblem(message: string, position: string): AppError {
  return AppError.badRequest(`malformed YAML body${position}: ${message}`);
}

/**
 * `name: x` followed by an over-indented `  cloud: y`: the parser reports the value on the line
 * before (`x`, now read as a key), but the mistake is the indentation of the next line. Name that one.
 */
function overIndented(text: string, problem: YAMLError, lineCounter: LineCounter): AppError {
  const { line } = lineCounter.linePos(problem.pos[0]);
  const next = text.split('\n')[line];
  if (next === undefined) return yamlProblem(problem.message, positionOf(problem, lineCounter));
  const column = next.length - next.trimStart().length + 1;
  return yamlProblem(`this line is indented more than the one before it, under a value that cannot hold it`, ` at line ${line + 1}, column ${column}`);
}

function positionOf(problem: YAMLError, lineCounter: LineCounter): string {
  return positionAt(problem.pos[0], lineCounter);
}

function positionAt(offset: number | undefined, lineCounter: LineCounter): string {
  if (offset === undefined) return '';
  const { line, col } = lineCounter.linePos(offset);
  return ` at line ${line}, column ${col}`;
}
