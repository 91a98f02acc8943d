// Which files the built frontend (dist/) is made from, and one digest of them, written to dist/sources.sha256 by
// the build. The launcher (examples/chat/build.py) computes the same digest in Python: when it matches, the
// shipped dist/ is current and the example starts without Node.js or npm; when a source changed, it rebuilds.
// Keep the two in step: tests/example/test_first_start.py checks they agree.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";

export const SOURCE_FILES = ["classic.html", "index.html", "package-lock.json", "package.json", "sources.mjs", "vite.config.js"];
export const SOURCE_FOLDERS = ["public", "src"];
export const STAMP = "sources.sha256";

function* filesUnder(folder) {
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) yield* filesUnder(path);
    else if (entry.isFile()) yield path;
  }
}

const sha256 = (data) => createHash("sha256").update(data).digest("hex");

// sha256 over "<path>\0<sha256 of the file>\n" for every source, by path (POSIX separators, plain string order);
// CRLF counts as LF, so a checkout with Windows line ends has the same digest.
export function sourcesDigest(root) {
  const paths = SOURCE_FILES.filter((name) => existsSync(join(root, name)));
  for (const folder of SOURCE_FOLDERS) {
    if (!existsSync(join(root, folder))) continue;
    for (const path of filesUnder(join(root, folder))) paths.push(relative(root, path).split(sep).join("/"));
  }
  paths.sort();
  const digest = createHash("sha256");
  for (const path of paths) {
    const text = readFileSync(join(root, path)).toString("latin1").replaceAll("\r\n", "\n");
    digest.update(`${path}\0${sha256(Buffer.from(text, "latin1"))}\n`);
  }
  return digest.digest("hex");
}

// The Vite plugin: adds dist/sources.sha256 to every build.
export function sourcesStamp(root) {
  return {
    name: "sources-stamp",
    generateBundle() {
      this.emitFile({ type: "asset", fileName: STAMP, source: `${sourcesDigest(root)}\n` });
    },
  };
}
