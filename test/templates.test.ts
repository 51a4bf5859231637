import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KNOWN_HELPERS } from '../src/render/compile-options.ts';
import { commentText, hclString, iniValue, shellQuote, udevValue, UnsafeValueError } from '../src/render/helpers.ts';
import { ROOT } from './helpers.ts';

const dir = join(ROOT, 'templates');
const templates = readdirSync(dir).filter((f) => f.endsWith('.hbs'));

type Node = { type: string; path?: { original: string }; params?: unknown[]; program?: { body: Node[] }; inverse?: { body: Node[] } };

/** Every `{{...}}` output statement of a template, with its helper name or undefined. */
function outputs(nodes: Node[]): { helper?: string; text: string }[] {
  const out: { helper?: string; text: string }[] = [];
  for (const n of nodes) {
    if (n.type === 'MustacheStatement') {
      const name = n.path!.original;
      out.push({ helper: (n.params?.length ?? 0) > 0 ? name : undefined, text: name });
    }
    if (n.program) out.push(...outputs(n.program.body));
    if (n.inverse) out.push(...outputs(n.inverse.body));
  }
  return out;
}

test('templates exist', () => {
  assert.ok(templates.length >= 8);
});

for (const t of templates) {
  test(`template ${t} interpolates only through an escaping helper`, () => {
    const ast = Handlebars.parse(readFileSync(join(dir, t), 'utf8')) as unknown as { body: Node[] };
    for (const o of outputs(ast.body)) {
      assert.ok(o.helper && o.helper in KNOWN_HELPERS, `{{${o.text}}} in ${t} is not passed through a helper`);
    }
  });
}

const isUnsafe = (e: unknown) => e instanceof UnsafeValueError;

test('helpers refuse what their context cannot carry', () => {
  assert.throws(() => iniValue('a\nb'), isUnsafe);
  assert.throws(() => iniValue(' padded'), isUnsafe);
  assert.throws(() => commentText('x\ny'), isUnsafe);
  assert.throws(() => udevValue('a"b'), isUnsafe);
  assert.throws(() => udevValue('a\\b'), isUnsafe);
  assert.throws(() => iniValue(undefined), isUnsafe);
});

test('shell and HCL quoting neutralise expansion', () => {
  assert.is(shellQuote(`it's $(x)`), `'it'\\''s $(x)'`);
  assert.is(hclString('${var} %{x} "q" \\'), '"$${var} %%{x} \\"q\\" \\\\"');
});

test.run();
