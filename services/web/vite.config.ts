// The console is built into dist/ and served by nginx (deploy/nginx/grid-web.conf.template), which also proxies
// /api/<service>/ to the four services. `npm run dev` serves the sources with the same proxy, to the local stack.
// Two pages: the console (index.html) and the grid-worker app (worker/index.html, served at /worker/, a PWA whose
// service worker is built from src/worker/sw.ts to the stable address /worker/sw.js with its precache list).
import { defineConfig } from "vite";

import { SW_FILE, SW_INPUT, workerPrecache } from "./src/worker/build/precache";

const services = { intake: 8001, routing: 8002, supervision: 8003, notifications: 8004 };

export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    assetsDir: "assets", // content-hashed names: nginx caches /assets/ for a year, never index.html
    target: "es2020",
    sourcemap: false,
    // Leaflet's images are small; inline nothing else so every file can be cached on its own.
    assetsInlineLimit: 4096,
    // The 红黑榜 page's chunk carries ECharts (bar charts, canvas: ~520 kB, 180 kB gzipped), loaded only there.
    chunkSizeWarningLimit: 600,
    rollupOptions: {
      input: { index: "index.html", worker: "worker/index.html", sw: SW_INPUT },
      output: {
        entryFileNames: (chunk) => (chunk.name === "sw" ? SW_FILE : "assets/[name]-[hash].js"),
      },
    },
  },
  plugins: [workerPrecache("worker")],
  server: {
    proxy: Object.fromEntries(
      Object.entries(services).map(([name, port]) => [
        `/api/${name}/`,
        { target: `http://127.0.0.1:${port}`, rewrite: (path: string) => path.replace(`/api/${name}`, "") },
      ]),
    ),
  },
});
