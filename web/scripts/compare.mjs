// Byte-for-byte comparison of two folders: the names that differ, or none.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

function files(root, dir = root, found = new Map()) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files(root, path, found);
    else found.set(relative(root, path), readFileSync(path));
  }
  return found;
}

export function differences(expected, actual) {
  const want = files(expected);
  const have = files(actual);
  const names = [...new Set([...want.keys(), ...have.keys()])].sort();
  return names.filter((name) => !want.has(name) || !have.has(name) || !want.get(name).equals(have.get(name)));
}
