// The grid-worker app (issue 16, item 4): a mobile-first, installable PWA at /worker/. Boot: settings (the last
// ones seen when offline), the session (a token handed over in the URL fragment, or the one kept on the device),
// the outbox, the service worker that keeps the app shell for offline starts.

import "../styles/base.css";
import "./worker.css";

import { takeTokenFromFragment } from "../api/session";
import { DEFAULT_CONFIG, loadConfig, type WebConfig } from "../config";
import { h } from "../dom";
import { BASE, WorkerApp } from "./app";
import { ROUTES } from "./routes";
import { W } from "./words";

const CONFIG_KEY = "grid.worker.config";

/** /config.json, or offline the copy kept from the last start. */
async function settings(): Promise<WebConfig> {
  if (navigator.onLine) {
    const config = await loadConfig();
    if (config !== DEFAULT_CONFIG) {
      localStorage.setItem(CONFIG_KEY, JSON.stringify(config));
      return config;
    }
  }
  try {
    const kept = localStorage.getItem(CONFIG_KEY);
    if (kept) return { ...DEFAULT_CONFIG, ...(JSON.parse(kept) as Partial<WebConfig>) };
  } catch {
    /* fall through */
  }
  return DEFAULT_CONFIG;
}

/** The service worker (built only: `npm run dev` serves sources that change under it). A new version waits until
 * the user chooses to update (a page in the middle of a form is not reloaded under them). */
function registerServiceWorker(): void {
  if (!import.meta.env.PROD || !("serviceWorker" in navigator)) return;
  const root = document.documentElement;
  let updating = false;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (updating) window.location.reload();
  });
  const offer = (waiting: ServiceWorker) => {
    if (document.querySelector(".w-update")) return;
    const bar = h(
      "div",
      { class: "w-update", role: "status" },
      W.updateReady,
      h(
        "button",
        {
          type: "button",
          class: "button",
          onclick: () => {
            updating = true;
            waiting.postMessage({ type: "skip-waiting" });
          },
        },
        W.update,
      ),
    );
    document.body.prepend(bar);
  };
  navigator.serviceWorker
    .register(`${BASE}/sw.js`, { scope: `${BASE}/` })
    .then((registration) => {
      if (registration.waiting && navigator.serviceWorker.controller) offer(registration.waiting);
      registration.addEventListener("updatefound", () => {
        const installing = registration.installing;
        installing?.addEventListener("statechange", () => {
          if (installing.state === "installed" && navigator.serviceWorker.controller) offer(installing);
        });
      });
    })
    .catch((error: unknown) => {
      root.dataset.offlineReady = "false";
      console.warn("service worker not registered", error);
    });
  // Ready: a service worker is active for this scope, its shell cached (activation follows a complete install).
  void navigator.serviceWorker.ready.then(() => {
    root.dataset.offlineReady = "true";
  });
}

async function boot(): Promise<void> {
  registerServiceWorker();
  const config = await settings();
  const root = document.getElementById("app")!;
  const app = new WorkerApp(config, root, ROUTES);
  await app.outbox.load();
  const handed = takeTokenFromFragment();
  if (handed) {
    try {
      // Land on the page the token was handed to (or the one it names), not always on my cases.
      const { pathname, search } = window.location;
      const next = new URLSearchParams(search).get("next") ?? (pathname.startsWith(`${BASE}/signin`) ? null : pathname + search);
      app.signIn(handed, next);
      return;
    } catch {
      app.notice = "统一身份认证返回的令牌无效，请重新登录。";
    }
  }
  await app.render();
  void app.outbox.flush({ now: true });
}

void boot();
