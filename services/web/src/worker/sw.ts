// The grid-worker app's service worker (built to /worker/sw.js; nginx serves it uncached so an update is seen at
// the next start). It keeps the app shell (the page, its scripts, styles, images, manifest and icons: the list the
// build writes in place of the placeholder below) in a cache of this version, so the app opens without a network.
// It never touches the APIs: /api/ requests go straight to the network (a static route, where the browser has
// them; otherwise no answer from here), and what is queued offline lives in the page's IndexedDB outbox
// (src/worker/outbox.ts), never here. A new version waits until the app asks it to take over ("skip-waiting").
//
// Self-contained on purpose (no imports): it is built as a script of its own.

interface Manifest {
  version: string;
  files: string[];
}

interface ExtendableEventLike extends Event {
  waitUntil(promise: Promise<unknown>): void;
}

interface InstallEventLike extends ExtendableEventLike {
  /** The ServiceWorker static routing API (Chromium): requests matching a rule skip the worker entirely. */
  addRoutes?: (rules: unknown) => Promise<void>;
}

interface FetchEventLike extends ExtendableEventLike {
  request: Request;
  respondWith(response: Response | Promise<Response>): void;
}

interface MessageEventLike extends ExtendableEventLike {
  data: unknown;
}

interface WorkerScope {
  location: Location;
  skipWaiting(): Promise<void>;
  clients: { claim(): Promise<void> };
  addEventListener(type: "install", listener: (event: InstallEventLike) => void): void;
  addEventListener(type: "activate", listener: (event: ExtendableEventLike) => void): void;
  addEventListener(type: "fetch", listener: (event: FetchEventLike) => void): void;
  addEventListener(type: "message", listener: (event: MessageEventLike) => void): void;
}

const scope = self as unknown as WorkerScope;
const MANIFEST = "__GRID_PRECACHE__" as unknown as Manifest; // written by the build (src/worker/build/precache.ts)
const PREFIX = "grid-worker-shell-";
const CACHE = `${PREFIX}${MANIFEST.version}`;
const SHELL = "/worker/";
const PRECACHED = new Set(MANIFEST.files);

scope.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      if (event.addRoutes) {
        // The APIs and the settings never wake this worker: no added latency, and the network's own answer
        // (or failure) reaches the page.
        await event
          .addRoutes([
            { condition: { urlPattern: "/api/*" }, source: "network" },
            { condition: { urlPattern: "/config.json" }, source: "network" },
          ])
          .catch(() => undefined);
      }
      const cache = await caches.open(CACHE);
      // Bypass the HTTP cache: what is cached here must be what the server has now.
      await cache.addAll(MANIFEST.files.map((url) => new Request(url, { cache: "reload" })));
    })(),
  );
});

scope.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
      }
      await scope.clients.claim();
    })(),
  );
});

scope.addEventListener("message", (event) => {
  const data = event.data as { type?: string } | null;
  if (data?.type === "skip-waiting") void scope.skipWaiting();
});

async function fromCache(key: string, request: Request): Promise<Response> {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(key);
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok && PRECACHED.has(key)) await cache.put(key, response.clone());
  return response;
}

scope.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== scope.location.origin || url.pathname.startsWith("/api/") || url.pathname === "/config.json") {
    return; // the network's, untouched
  }
  if (request.mode === "navigate" && url.pathname.startsWith(SHELL)) {
    // Every page of the app is the one shell (the app routes by path itself).
    event.respondWith(fromCache(SHELL, request));
    return;
  }
  if (PRECACHED.has(url.pathname)) event.respondWith(fromCache(url.pathname, request));
});

export {};
