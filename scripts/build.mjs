// Builds the CLI:
//  1. dist/gen.js: one ESM bundle, so `gen` starts without a TypeScript loader (what the tests run),
//     and every dependency inside it: the npm package needs none installed;
//  2. dist/gen-snapshot.cjs: the script a V8 startup snapshot is made from (scripts/snapshot.mjs);
//  3. dist/THIRD-PARTY-LICENSES.txt: the licenses of the packages bundled into 1 and 2;
//  4. dist/gen.blob: the startup snapshot itself, already loaded and warmed up (every module
//     evaluated, the templates compiled), which bin/gen starts when it is usable. Loading and
//     evaluating the bundle is most of what `gen` costs; the snapshot skips it.
//
// npm runs it in a clone as the `dependencies` script (after npm ci or an npm install that changed
// node_modules), not as `prepare`: npm counts a package's `prepare` as an install script when the
// package is installed from a tarball (it never runs there), which would make
// `npm install -g born-tuned-*.tgz` warn, and fail under --strict-allow-scripts.
// `--package` (npm's prepack) stops after 3: a snapshot belongs to one node binary and one package
// root, so an installed package makes its own on first run (bin/gen, scripts/snapshot.mjs).
// The snapshot is an optimisation only: when it cannot be built, or when it does not print exactly
// what dist/gen.js prints for a set of commands, it is left out (with a warning) and bin/gen runs
// dist/gen.js. Set BORN_TUNED_NO_SNAPSHOT=1 to skip it (and 2, so bin/gen does not make one).
import { build } from 'esbuild';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dropSnapshot, FAILED_MARK, makeSnapshot, SNAPSHOT_ENTRY, snapshotInputsBanner } from './snapshot.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dist = join(root, 'dist');
const genJs = join(dist, 'gen.js');
const licensesFile = join(dist, 'THIRD-PARTY-LICENSES.txt');

// Modules the bundles take in place of others: each is a real, type-checked file under src/build/
// that says why.
const standIn = (name, filter, file, when = () => true) => ({
  name,
  setup(b) {
    b.onResolve({ filter }, (args) => (when(args) ? { path: join(root, 'src', 'build', file) } : undefined));
  },
});
/** node:child_process where commander imports it: loaded on first use. */
const lazyChildProcessForCommander = standIn('lazy-child-process-for-commander', /^node:child_process$/, 'lazy-child-process.cts', (args) =>
  /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer),
);
/** src/require-builtin.ts: the bundle's own require instead of node:module. */
const bundledRequireBuiltin = standIn('bundled-require-builtin', /[\\/]require-builtin\.ts$/, 'bundled-require-builtin.ts');

const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  target: 'node20',
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [lazyChildProcessForCommander, bundledRequireBuiltin],
};

const forPackage = process.argv.includes('--package');
const withSnapshotEntry = forPackage || !process.env.BORN_TUNED_NO_SNAPSHOT;

const bundled = await build({
  ...common,
  entryPoints: ['src/main.ts'],
  outfile: genJs,
  format: 'esm',
  metafile: true,
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
});

if (!withSnapshotEntry) {
  dropSnapshot();
  rmSync(SNAPSHOT_ENTRY, { force: true });
  writeLicenses([bundled.metafile]);
} else {
  writeLicenses([bundled.metafile, (await buildSnapshotEntry()).metafile]);
  // A new script deserves a new try, even from a node that failed with the old one.
  rmSync(FAILED_MARK, { force: true });
  // The old blob stays in place while the new one is made (bin/gen ignores it: dist/gen.js is now
  // newer), so a gen started meanwhile still works; the new one replaces it by rename.
  if (!forPackage) {
    try {
      makeSnapshot();
    } catch (e) {
      dropSnapshot();
      console.warn(`build: no startup snapshot, bin/gen will run dist/gen.js (slower start): ${e instanceof Error ? e.message : e}`);
    }
  }
}

/**
 * Bundles dist/gen-snapshot.cjs, headed by the digest of dist/gen.js and the templates it agrees
 * with (scripts/snapshot.mjs refuses it beside any other).
 */
async function buildSnapshotEntry() {
  // A snapshot needs one CommonJS script without top-level await: src/build/snapshot-entry.ts.
  return build({
    ...common,
    entryPoints: ['src/build/snapshot-entry.ts'],
    outfile: SNAPSHOT_ENTRY,
    format: 'cjs',
    minify: true,
    keepNames: false,
    metafile: true,
    banner: { js: snapshotInputsBanner() },
    define: { 'import.meta.url': 'globalThis.__BORN_TUNED_URL' },
    plugins: [...common.plugins, await precompiledTemplates()],
  });
}

/**
 * Writes dist/THIRD-PARTY-LICENSES.txt: each package under node_modules that esbuild bundled (from
 * its metafiles), with its version and its own license file. Their licenses (MIT, ISC, BSD) ask
 * that the notice travel with the code, and the bundles keep no comment (legalComments: 'none').
 */
function writeLicenses(metafiles) {
  const dirs = new Set();
  for (const m of metafiles) {
    for (const input of Object.keys(m.inputs)) {
      const at = /^(.*?node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
      if (at) dirs.add(at[1]);
    }
  }
  const sections = [...dirs]
    .map((dir) => {
      const pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
      const licenseFile = readdirSync(join(root, dir))
        .filter((f) => /^licen[cs]e(\.(md|txt))?$/i.test(f))
        .sort()[0];
      if (!licenseFile) throw new Error(`${dir} has no license file to ship with dist/gen.js`);
      return {
        name: pkg.name,
        text: `${pkg.name} ${pkg.version} (${pkg.license})\n\n${readFileSync(join(root, dir, licenseFile), 'utf8').trim()}\n`,
      };
    })
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const rule = `\n${'-'.repeat(100)}\n\n`;
  writeFileSync(
    licensesFile,
    `dist/gen.js and dist/gen-snapshot.cjs include code from these packages, under these licenses.\n${rule}${sections.map((s) => s.text).join(rule)}`,
  );
}

/**
 * Swaps src/render/template-source.ts (reads templates/*.hbs and compiles them with the full
 * Handlebars) for src/build/precompiled-template-source.ts, and gives it the module it imports,
 * born-tuned:template-specs: every template precompiled here, with the options of
 * src/render/compile-options.ts.
 */
async function precompiledTemplates() {
  const Handlebars = (await import('handlebars')).default;
  const options = await build({ ...common, entryPoints: ['src/render/compile-options.ts'], write: false, format: 'esm' });
  const { COMPILE_OPTIONS } = await import(`data:text/javascript,${encodeURIComponent(options.outputFiles[0].text)}`);
  const dir = join(root, 'templates');
  const specs = readdirSync(dir)
    .filter((f) => f.endsWith('.hbs'))
    .sort()
    .map(
      (f) =>
        `  ${JSON.stringify(f.slice(0, -'.hbs'.length))}: ${Handlebars.precompile(readFileSync(join(dir, f), 'utf8'), COMPILE_OPTIONS)},`,
    );
  return {
    name: 'precompiled-templates',
    setup(b) {
      b.onResolve({ filter: /[\\/]template-source\.ts$/ }, () => ({ path: join(root, 'src', 'build', 'precompiled-template-source.ts') }));
      b.onResolve({ filter: /^born-tuned:template-specs$/ }, () => ({ path: 'template-specs', namespace: 'born-tuned' }));
      b.onLoad({ filter: /^template-specs$/, namespace: 'born-tuned' }, () => ({
        contents: `export default {\n${specs.join('\n')}\n};\n`,
        loader: 'js',
      }));
    },
  };
}
