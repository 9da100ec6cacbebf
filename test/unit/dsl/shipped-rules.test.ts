/** Every rules file we ship or show compiles: docs cannot rot. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { compileRulesFile, compileRulesSource, formatCompileResult } from '../../../src/dsl/index.js';
import { referenceExamples } from './doc-examples.js';
import { projectRoot } from './helpers.js';

function rulesFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...rulesFiles(p));
    else if (name.endsWith('.rules')) out.push(p);
  }
  return out;
}

describe('shipped rules files compile', () => {
  const shipped = rulesFiles(join(projectRoot, 'rules'));
  const examples = rulesFiles(join(projectRoot, 'examples'));

  test('rules/ has the default and the issue example', () => {
    const names = shipped.map((p) => relative(projectRoot, p));
    assert.ok(names.includes('rules/default.rules'));
    assert.ok(names.includes('rules/example-antispam.rules'));
  });

  for (const file of [...shipped, ...examples]) {
    const name = relative(projectRoot, file);
    test(name, () => {
      const r = compileRulesFile(file);
      assert.ok(r.ok, `${name} does not compile:\n${formatCompileResult(r)}`);
      // What we ship ourselves must not even warn.
      if (name.startsWith('rules/')) assert.deepEqual(r.warnings, [], formatCompileResult(r));
    });
  }

  test('rules/example-antispam.rules is the issue example, verbatim', () => {
    const text = readFileSync(join(projectRoot, 'rules/example-antispam.rules'), 'utf8');
    assert.ok(text.includes('    then reject "550 5.7.1 bare IP address in HELO" when helo ~ /^\\[?[0-9.]+\\]?$/\n'));
    assert.ok(text.startsWith('# trusted clients skip everything below, for the whole session\nlist trusted = { 127.0.0.0/8, ::1, 192.0.2.0/24 }\n'));
  });

  test('every rules example in grammar/REFERENCE.md compiles without warnings', () => {
    const reference = readFileSync(join(projectRoot, 'grammar/REFERENCE.md'), 'utf8');
    const examples = referenceExamples(reference);
    assert.ok(examples.length >= 5, `found ${examples.length} examples`);
    for (const text of examples) {
      // A key file is served from examples/dkim-sign (an Ed25519 key where the path says so); other files are empty.
      const r = compileRulesSource(text, 'REFERENCE.md', { readFile: (path, role) => (role === 'key' ? readFileSync(join(projectRoot, 'examples/dkim-sign/keys', path.includes('ed') ? 'example-ed25519.key' : 'example-rsa.key'), 'utf8') : '') });
      assert.ok(r.ok, `does not compile:\n${text}\n${formatCompileResult(r)}`);
      assert.deepEqual(r.warnings, [], `${text}\n${formatCompileResult(r)}`);
    }
  });
});
