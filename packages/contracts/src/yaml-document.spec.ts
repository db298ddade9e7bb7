import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { formatIssuePath } from './contract-violation.ts';
import { documentErrorOf } from './testing.ts';
import { DocumentError, documentIssue, issuePathSegments, locateIssues, parseYamlDocument, readYamlDocument, validateDocument } from './yaml-document.ts';

const shelfSchema = z.strictObject({
  name: z.string(),
  books: z
    .array(
      z.discriminatedUnion('kind', [z.strictObject({ kind: z.literal('novel'), title: z.string() }), z.strictObject({ kind: z.literal('atlas'), pages: z.int().positive() })]),
    )
    .default([]),
});


const options = { source: 'shelf.yaml', noun: 'shelf' };

describe('YAML documents', () => {
  it('returns the validated value and where each field is written', () => {
    const { value, locate } = readYamlDocument('name: s\nbooks:\n  - kind: novel\n    title: t\n', shelfSchema, options);
    expect(value).toEqual({ name: 's', books: [{ kind: 'novel', title: 't' }] });
    expect(locate(['books', 0, 'title'])).toEqual({ line: 4, column: 5 });
    // A missing field is placed at its closest written ancestor.
    expect(locate(['books', 0, 'pages'])).toEqual({ line: 3, column: 5 });
  });

  it('names every problem by field and line, in reading order, and the file in its message', () => {
    const error = documentErrorOf(() => readYamlDocument('books:\n  - kind: atlas\n    pages: -1\n    colour: red\nname: 3\n', shelfSchema, options));
    expect(error.issues).toEqual([
      { path: 'books[0].pages', message: 'Too small: expected number to be >0', line: 3, column: 5 },
      { path: 'books[0].colour', message: 'unknown field', line: 4, column: 5 },
      { path: 'name', message: 'Invalid input: expected string, received number', line: 5, column: 1 },
    ]);
    expect(error.message).toBe('invalid shelf.yaml: books[0].pages: Too small: expected number to be >0 (line 3); books[0].colour: unknown field (line 4); name: Invalid input: expected string, received number (line 5)');
  });

  it('says a missing field is required, at the mapping that lacks it', () => {
    expect(documentErrorOf(() => readYamlDocument('books: []\n', shelfSchema, options)).issues).toEqual([{ path: 'name', message: 'is required', line: 1, column: 1 }]);
  });

  it('words an unknown discriminator as the caller asks', () => {
    const error = documentErrorOf(() => readYamlDocument('name: s\nbooks:\n  - kind: comic\n', shelfSchema, { ...options, unionMessage: (path) => `${formatIssuePath(path)} must be novel or atlas` }));
    expect(error.issues).toEqual([{ path: 'books[0].kind', message: 'books[0].kind must be novel or atlas', line: 3, column: 5 }]);
  });

  it('refuses YAML it cannot trust, at its line: bad syntax, several documents, duplicate keys, recursive aliases', () => {
    expect(documentErrorOf(() => parseYamlDocument('name: [s\n', options)).issues[0]).toMatchObject({ path: '', line: 2 });
    expect(documentErrorOf(() => parseYamlDocument('name: a\n---\nname: b\n', options)).issues[0]).toMatchObject({ message: 'a shelf is one YAML document', line: 2 });
    expect(documentErrorOf(() => parseYamlDocument('name: a\nname: b\n', options)).issues[0]).toMatchObject({ line: 2 });
    expect(documentErrorOf(() => parseYamlDocument('name: s\nbooks: &b [*b]\n', options)).issues[0]).toMatchObject({ message: 'the alias *b is inside the node it names, so its value would contain itself', line: 2 });
  });

  it('refuses an empty document and one nested deeper than the bound', () => {
    expect(documentErrorOf(() => parseYamlDocument('# nothing\n', options)).message).toBe('invalid shelf.yaml: is empty');
    expect(documentErrorOf(() => parseYamlDocument('a: [[[[1]]]]\n', { ...options, maxDepth: 3 })).issues).toEqual([{ path: '', message: 'is nested more than 3 levels deep' }]);
    expect(documentErrorOf(() => validateDocument([[[[1]]]], shelfSchema, { ...options, maxDepth: 3 })).issues).toEqual([{ path: '', message: 'is nested more than 3 levels deep' }]);
  });

  it('lists five issues in its message and counts the rest', () => {
    const issues = Array.from({ length: 7 }, (_, index) => ({ path: `f${index}`, message: 'is wrong' }));
    expect(new DocumentError(issues, 'x.yaml').message).toBe('invalid x.yaml: f0: is wrong; f1: is wrong; f2: is wrong; f3: is wrong; f4: is wrong (and 2 more)');
  });

  it('locates problems found later, and issues of validators that name fields by formatted paths', () => {
    const { locate } = parseYamlDocument('name: s\ninner:\n  metadata:\n    app.io/name: x\n  list: [a, b]\n', options);
    expect(documentIssue(['inner', 'list', 1], 'is unknown', locate)).toEqual({ path: 'inner.list[1]', message: 'is unknown', line: 5, column: 13 });
    expect(locateIssues([{ path: 'metadata["app.io/name"]', message: 'is bad' }], locate, ['inner'])).toEqual([{ path: 'inner.metadata["app.io/name"]', message: 'is bad', line: 4, column: 5 }]);
    expect(documentIssue(['elsewhere'], 'is bad', undefined)).toEqual({ path: 'elsewhere', message: 'is bad' });
  });

  it('reads back the paths formatIssuePath writes', () => {
    for (const path of [[], ['assemblies', 1, 'dependsOn', 0], ['metadata', 'app.io/name', 'x'], ['params', 'DB_HOST', 'ref'], [0, 'a'], ['a', '1', 'b]"c']]) {
      expect(issuePathSegments(formatIssuePath(path))).toEqual(path);
    }
  });
});
