/**
 * Why a parsed value (a request body, a YAML document) cannot be what any schema takes, whatever
 * its fields: it contains itself (a recursive YAML alias) or nests deeper than `maxDepth`. Checked
 * before the recursive validation and error messages that would overflow the stack on such a value.
 */
export function shapeProblem(root: unknown, maxDepth: number): string | undefined {
  // Walks without recursing (a body may nest thousands of levels), in time linear in its size.
  const onPath = new Set<object>();
  const path: { node: object; children: unknown[]; next: number }[] = [];
  const enter = (value: unknown): string | undefined => {
    if (value === null || typeof value !== 'object') return undefined;
    if (onPath.has(value)) return 'contains itself (a recursive alias)';
    if (path.length === maxDepth) return `is nested more than ${maxDepth} levels deep`;
    onPath.add(value);
    path.push({ node: value, children: Array.isArray(value) ? (value as unknown[]) : Object.values(value), next: 0 });
    return undefined;
  };
  let problem = enter(root);
  for (let top = path.at(-1); problem === undefined && top !== undefined; top = path.at(-1)) {
    if (top.next === top.children.length) {
      onPath.delete(top.node);
      path.pop();
    } else problem = enter(top.children[top.next++]);
  }
  return problem;
}
