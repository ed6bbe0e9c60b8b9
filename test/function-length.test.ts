// Long functions hide their rules (issue 13): anywhere in src/,
// no function runs over 80 lines unless a comment beside
// it (just above it, or in its doc comment) says why, starting "Long:".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import ts from 'typescript';
import { repoRoot } from './helpers/data.ts';
import { readTree } from './helpers/imports.ts';

const MAX_LINES = 80;

/** Functions longer than `max` lines without a "Long:" reason in the comments just above them, as "path:line name (n lines)". */
function longFunctions(path: string, text: string, max = MAX_LINES): string[] {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isFunctionLike(n) && 'body' in n && n.body) {
      const first = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line, last = sf.getLineAndCharacterOfPosition(n.getEnd()).line;
      // The comments before the function, or before the statement or property that holds it.
      let holder: ts.Node = n;
      while (holder.parent && !ts.isSourceFile(holder.parent) && !ts.isBlock(holder.parent) && !ts.isClassLike(holder.parent) &&
        !ts.isObjectLiteralExpression(holder.parent) && holder.parent.getStart(sf) === holder.getStart(sf)) holder = holder.parent;
      const comments = (ts.getLeadingCommentRanges(text, holder.getFullStart()) ?? []).map((c) => text.slice(c.pos, c.end)).join('\n');
      if (last - first + 1 > max && !/\bLong:/.test(comments)) {
        const name = n.name?.getText(sf) ?? (ts.isVariableDeclaration(n.parent) ? n.parent.name.getText(sf) : '(anonymous)');
        out.push(`${path}:${first + 1} ${name} (${last - first + 1} lines)`);
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

test('no function over 80 lines anywhere in src/ without a reason beside it', () => {
  const tree = readTree(repoRoot, ['src']);
  assert.deepEqual([...tree].flatMap(([path, text]) => longFunctions(path, text)), []);
});

test('the length check finds a long function and accepts one with a reason', () => {
  const body = Array.from({ length: 85 }, (_, i) => `  x += ${i};`).join('\n');
  const long = `export function f(): number {\n  let x = 0;\n${body}\n  return x;\n}\n`;
  assert.deepEqual(longFunctions('a.ts', long), ['a.ts:1 f (89 lines)']);
  assert.deepEqual(longFunctions('a.ts', `const g = () => {\n${body}\n};\n`), ['a.ts:1 g (87 lines)']);
  assert.deepEqual(longFunctions('a.ts', `/** Sums. Long: one table of cases, read top to bottom. */\n${long}`), []);
  assert.deepEqual(longFunctions('a.ts', `// Long: one table of cases.\n${long}`), []);
  assert.deepEqual(longFunctions('a.ts', long, 100), []);
});
