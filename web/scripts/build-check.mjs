// Fails when the committed build (app/static/web/) is not what the sources build to: checks
// the generated types, then builds into a temporary folder and compares byte for byte.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { differences } from './compare.mjs';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const committed = resolve(web, '../app/static/web');
const out = mkdtempSync(join(tmpdir(), 'books-web-'));
const run = (command, args, env = {}) =>
  execFileSync(command, args, { cwd: web, stdio: 'inherit', env: { ...process.env, ...env } });
try {
  run('node', ['scripts/codegen-check.mjs']);
  run('npx', ['tsc', '--noEmit']);
  run('npx', ['vite', 'build', '--logLevel', 'warn'], { WEB_OUT: out });
  run('node', ['scripts/manifest.mjs'], { WEB_OUT: out });
  const changed = differences(committed, out);
  if (changed.length) {
    console.error(`app/static/web/ does not match the sources (${changed.join(', ')}): run \`make web\` and commit.`);
    process.exit(1);
  }
  console.log('build: app/static/web/ matches the sources');
} finally {
  rmSync(out, { recursive: true, force: true });
}
