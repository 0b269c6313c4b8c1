// Writes the persisted-operations manifest beside the build: { sha256 hex: document text },
// the documents the SPA sends by hash. The API registers it at start-up
// (`books persisted-queries load FILE` registers any such file).
import { copyFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(web, process.env.WEB_OUT ?? '../app/static/web');
copyFileSync(join(web, 'src/gql/persisted-documents.json'), join(out, 'persisted-documents.json'));
