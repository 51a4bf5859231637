import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderUserData } from '../src/render/user-data.ts';

/**
 * Two shapes of string the YAML writer got wrong, found by the include property test
 * (test/includes.test.ts) and kept here as plain cases, read back by the real PyYAML: a string
 * ending in several line breaks (a kept `|+` block, whose blank lines the template helper trimmed
 * away at the end of the document), and a long string holding a line of one space (which the yaml
 * library's multi-line double-quoted form wrote back as a backslash).
 */
const STRINGS = ['kept\n\n\n', `${'x'.repeat(40)}\n \nend`, ' \n'.repeat(30)];

test('user-data carries strings ending in blank lines, or holding a line of one space, exactly', () => {
  const texts = STRINGS.map((s) => renderUserData('header', { x_last: s }).text);
  const r = spawnSync(
    '/usr/bin/python3',
    ['-c', 'import json, sys, yaml\nprint(json.dumps([yaml.safe_load(t)["x_last"] for t in json.load(sys.stdin)]))'],
    { input: JSON.stringify(texts), encoding: 'utf8' },
  );
  assert.is(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), STRINGS);
});

test.run();
