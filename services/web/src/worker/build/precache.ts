// A build step of the grid-worker app (vite.config.ts): its service worker (src/worker/sw.ts, a build input written
// to worker/sw.js, a stable address the browser checks for updates) learns which files make the app shell: the
// worker page, every chunk its entry reaches (static and lazy imports), their CSS and the files the CSS names, and
// the app's static files (public/worker/: manifest, icons). Its version is a digest of all of them, so any change
// makes a new service worker, which caches the new shell beside the old one and drops the old one when it takes
// over. Runs in Node at build time only.

import type { Plugin, Rollup } from "vite";

type OutputBundle = Rollup.OutputBundle;
type OutputChunk = Rollup.OutputChunk;

export const SW_INPUT = "src/worker/sw.ts";
export const SW_FILE = "worker/sw.js";
/** The placeholder in sw.ts the manifest replaces (a string literal, so minification keeps it). */
const PLACEHOLDER = /(["'`])__GRID_PRECACHE__\1/;
const SHELL_PAGE = "/worker/";
const PUBLIC_SUBDIR = "worker"; // public/worker/ → /worker/

interface NodeFs {
  readFileSync(path: string): Uint8Array;
  readdirSync(path: string, options: { recursive: true }): string[];
  statSync(path: string): { isFile(): boolean };
}

/** FNV-1a over bytes: a version tag, not a security digest. */
function digest(parts: (string | Uint8Array)[]): string {
  let hash = 0x811c9dc5;
  const encoder = new TextEncoder();
  for (const part of parts) {
    const bytes = typeof part === "string" ? encoder.encode(part) : part;
    for (const byte of bytes) {
      hash ^= byte;
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    hash ^= 0xff; // a separator: ["ab", "c"] and ["a", "bc"] differ
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

function chunksFrom(bundle: OutputBundle, entry: OutputChunk): OutputChunk[] {
  const seen = new Map<string, OutputChunk>();
  const visit = (chunk: OutputChunk) => {
    if (seen.has(chunk.fileName)) return;
    seen.set(chunk.fileName, chunk);
    for (const name of [...chunk.imports, ...chunk.dynamicImports]) {
      const next = bundle[name];
      if (next?.type === "chunk") visit(next);
    }
  };
  visit(entry);
  return [...seen.values()];
}

/** `url(/assets/…)` references of a CSS file (Leaflet's images). */
function cssUrls(css: string): string[] {
  return [...css.matchAll(/url\(\s*["']?(\/assets\/[^"')\s]+)["']?\s*\)/g)].map((m) => m[1]);
}

export function workerPrecache(entryName = "worker"): Plugin {
  let publicDir = "";
  return {
    name: "grid-worker-precache",
    apply: "build",
    enforce: "post",
    configResolved(config) {
      publicDir = config.publicDir;
    },
    async generateBundle(_options, bundle) {
      const sw = Object.values(bundle).find((f): f is OutputChunk => f.type === "chunk" && f.fileName === SW_FILE);
      const entry = Object.values(bundle).find(
        (f): f is OutputChunk => f.type === "chunk" && f.isEntry && f.name === entryName,
      );
      if (!sw || !entry) {
        this.error(`the worker app's ${sw ? "entry" : "service worker"} is missing from the bundle`);
        return;
      }
      const files = new Set<string>();
      const contents: (string | Uint8Array)[] = [];
      for (const chunk of chunksFrom(bundle, entry)) {
        files.add(`/${chunk.fileName}`);
        const meta = chunk.viteMetadata;
        for (const css of meta?.importedCss ?? []) files.add(`/${css}`);
        for (const asset of meta?.importedAssets ?? []) files.add(`/${asset}`);
      }
      for (const file of [...files]) {
        const output = bundle[file.slice(1)];
        if (output?.type === "asset" && file.endsWith(".css")) {
          for (const url of cssUrls(String(output.source))) files.add(url);
        }
      }
      // The static files of the app (manifest, icons), read from public/worker/ (Node's fs, loaded by name: the
      // console's type-check knows browsers only).
      const spec = "node:fs";
      const fs = (await import(/* @vite-ignore */ spec)) as NodeFs;
      const dir = `${publicDir}/${PUBLIC_SUBDIR}`;
      for (const name of fs.readdirSync(dir, { recursive: true }).sort()) {
        const path = `${dir}/${name}`;
        if (!fs.statSync(path).isFile()) continue;
        files.add(`/worker/${name}`);
        contents.push(name, fs.readFileSync(path));
      }
      const hashed = [...files].sort();
      // The page itself is cached under the app's address (every path of the app answers with it).
      const precache = [SHELL_PAGE, ...hashed.filter((f) => f !== SHELL_PAGE)];
      const version = digest([...precache, ...contents, sw.code]);
      const manifest = JSON.stringify({ version, files: precache });
      if (!PLACEHOLDER.test(sw.code)) this.error("src/worker/sw.ts lost its __GRID_PRECACHE__ placeholder");
      sw.code = sw.code.replace(PLACEHOLDER, manifest);
    },
  };
}
