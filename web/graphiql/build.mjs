// Builds GraphiQL into app/static/graphiql/ (committed, so running the service needs no
// Node.js): one minified script, one stylesheet, its fonts and the licences of what the bundle
// holds, beside the hand-written index.html that loads them. No source maps, and nothing that
// would make the page fetch from another host.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', '..', 'app', 'static', 'graphiql');

for (const built of ['graphiql.js', 'graphiql.css', 'graphiql.js.LEGAL.txt', 'fonts']) {
  rmSync(join(out, built), { recursive: true, force: true });
}
mkdirSync(out, { recursive: true });

await build({
  entryPoints: { graphiql: join(here, 'src', 'main.jsx') },
  outdir: out,
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  platform: 'browser',
  jsx: 'automatic',
  define: { 'process.env.NODE_ENV': '"production"' },
  legalComments: 'external',
  sourcemap: false,
  logLevel: 'warning',
});

// GraphiQL's stylesheet inlines 34 font subsets (Roboto, Fira Code; every script's
// unicode-range) as data: URLs, 390 KB the browser would load whatever the text. As files, a
// browser fetches only the subsets the page's text uses (Latin: four).
mkdirSync(join(out, 'fonts'));
const css = join(out, 'graphiql.css');
const inlineFont = /url\(["']?data:font\/(woff2?);base64,([A-Za-z0-9+/=]+)["']?\)/g;
writeFileSync(
  css,
  readFileSync(css, 'utf8').replace(inlineFont, (_, ext, base64) => {
    const bytes = Buffer.from(base64, 'base64');
    const name = `${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.${ext}`;
    writeFileSync(join(out, 'fonts', name), bytes);
    return `url(/graphiql/fonts/${name})`;
  }),
);

// Anything in the output that would make the browser reach beyond the page's origin.
const outside = [/sourceMappingURL=/, /@import\s/, /url\(\s*["']?(https?:)?\/\//];
const fonts = readdirSync(join(out, 'fonts'));
const fontBytes = fonts.reduce((sum, name) => sum + readFileSync(join(out, 'fonts', name)).length, 0);
for (const name of readdirSync(out).sort().filter((name) => name !== 'fonts')) {
  const text = readFileSync(join(out, name), 'utf8');
  for (const pattern of outside) {
    if (pattern.test(text)) throw new Error(`${name} refers to another host (${pattern})`);
  }
  const raw = Buffer.byteLength(text);
  const gzip = gzipSync(text, { level: 9 }).length;
  console.log(`${name.padEnd(24)} ${(raw / 1024).toFixed(1).padStart(8)} KiB  gzip ${(gzip / 1024).toFixed(1).padStart(7)} KiB`);
}
console.log(`fonts/ (${fonts.length} files)`.padEnd(24), `${(fontBytes / 1024).toFixed(1).padStart(8)} KiB`);
