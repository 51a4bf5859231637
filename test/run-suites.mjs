// Runs every test/*.test.ts suite (each a uvu file that runs itself) in parallel worker slots and
// prints uvu's own summary lines at the end ("Total: N", "Passed: M"), which test/run.sh reads.
// Most suites spend their time in subprocesses (gen, cloud-init, shellcheck, bash, python), so
// running one suite per core (at least two) roughly halves the wall time on the 2-core CI machine.
// Each suite's output is printed whole when it ends, so suites never interleave. A suite that
// ends without a summary (it crashed while loading) counts as one failed test.
// Usage: node test/run-suites.mjs [FILE...]   (default: every test/*.test.ts)
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const given = process.argv.slice(2);
const files = (given.length ? given : readdirSync(join(root, 'test')).filter((f) => f.endsWith('.test.ts')).map((f) => join(root, 'test', f)))
  // Largest first: long suites start early, short ones fill the gaps at the end.
  .sort((a, b) => statSync(b).size - statSync(a).size);
const slots = Math.max(2, availableParallelism());

let total = 0;
let passed = 0;
let crashed = 0;
const queue = [...files];

function runOne(file) {
  return new Promise((done) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: root, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks = [];
    child.stdout.on('data', (c) => chunks.push(c));
    child.stderr.on('data', (c) => chunks.push(c));
    child.on('close', (code, signal) => {
      const out = Buffer.concat(chunks).toString('utf8');
      process.stdout.write(`\n${relative(root, file)} (${((Date.now() - started) / 1000).toFixed(0)} s)\n${out}`);
      const t = /^\s*Total:\s*(\d+)/m.exec(out);
      const p = /^\s*Passed:\s*(\d+)/m.exec(out);
      if (!t || !p) {
        crashed++;
        process.stdout.write(`FAIL: ${relative(root, file)} ended without a summary (exit ${code ?? signal})\n`);
      } else {
        total += Number(t[1]);
        passed += Number(p[1]);
        // A suite that reported all passed but exited non-zero failed somewhere outside a test.
        if (code !== 0 && t[1] === p[1]) crashed++;
      }
      done();
    });
  });
}

async function worker() {
  for (let file = queue.shift(); file; file = queue.shift()) await runOne(file);
}

await Promise.all(Array.from({ length: Math.min(slots, files.length) }, worker));
// The summary in uvu's words; a crashed suite is one test more, and failed.
console.log(`\n  Total:     ${total + crashed}\n  Passed:    ${passed}`);
process.exitCode = passed === total + crashed ? 0 : 1;
