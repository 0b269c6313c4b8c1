// Fails when the committed generated types (src/gql/) disagree with contract/schema.graphql
// and the operations: regenerates into a temporary folder and compares.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { differences } from './compare.mjs';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = mkdtempSync(join(tmpdir(), 'books-codegen-'));
try {
  execFileSync('npx', ['graphql-codegen', '--config', 'codegen.ts'], {
    cwd: web,
    stdio: 'inherit',
    env: { ...process.env, CODEGEN_OUT: `${out}/` },
  });
  const changed = differences(join(web, 'src/gql'), out);
  if (changed.length) {
    console.error(`src/gql/ is out of date (${changed.join(', ')}): run \`npm run codegen\` and commit.`);
    process.exit(1);
  }
  console.log('codegen: src/gql/ matches the schema and the operations');
} finally {
  rmSync(out, { recursive: true, force: true });
}
