import { describe, expect, it } from 'vitest';
import { parseYamlBody } from './yaml.ts';

function messageOf(text: string): string {
  try {
    parseYamlBody(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected the YAML to be refused');
}

describe('YAML request bodies', () => {
  it('names the over-indented line, not the value on the line before it', () => {
    expect(messageOf('apiVersion: defib/v1\nkind: Deployable\nname: wordpress\n  cloud: sim-openstack\n')).toBe(
      'malformed YAML body at line 4, column 3: this line is indented more than the one before it, under a value that cannot hold it',
    );
  });

  it('names the line and column of other mistakes', () => {
    expect(messageOf('a: 1\nb:\n  c: 2\n d: 3\n')).toBe('malformed YAML body at line 4, column 1: All mapping items must start at the same column');
  });
});
