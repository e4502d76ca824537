// The grid-worker app's router: paths under /worker/, matched like the console's (../router.ts), pages loaded
// lazily. Every path under /worker/ answers with the app's page (nginx; offline, the service worker).

import type { WorkerApp } from "./app";

export type Cleanup = () => void;

export interface WorkerPageContext {
  app: WorkerApp;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Aborted when the page is left. */
  signal: AbortSignal;
}

export type WorkerPage = (root: HTMLElement, ctx: WorkerPageContext) => void | Cleanup | Promise<void | Cleanup>;

export interface WorkerRoute {
  /** Under the app's base, e.g. "/" or "/cases/:id". */
  path: string;
  title: string;
  load: () => Promise<{ default: WorkerPage }>;
  public?: boolean;
}

export class WorkerRouter {
  private readonly compiled: [RegExp, WorkerRoute][];

  constructor(
    private readonly base: string,
    readonly routes: WorkerRoute[],
    private readonly onChange: () => void,
  ) {
    this.compiled = routes.map((route) => [this.compile(route.path), route]);
    window.addEventListener("popstate", () => this.onChange());
    document.addEventListener("click", (event) => this.intercept(event));
  }

  private compile(path: string): RegExp {
    const full = (this.base + path).replace(/\/+$/, "");
    const pattern = full
      .split("/")
      .map((part) =>
        part.startsWith(":") ? `(?<${part.slice(1)}>[^/]+)` : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
      )
      .join("/");
    return new RegExp(`^${pattern}/?$`);
  }

  match(pathname: string): { route: WorkerRoute; params: Record<string, string> } | null {
    for (const [pattern, route] of this.compiled) {
      const found = pattern.exec(pathname);
      if (found) {
        const params: Record<string, string> = {};
        for (const [name, value] of Object.entries(found.groups ?? {})) params[name] = decodeURIComponent(value);
        return { route, params };
      }
    }
    return null;
  }

  navigate(to: string, { replace = false } = {}): void {
    const here = window.location.pathname + window.location.search;
    if (to !== here) {
      if (replace) history.replaceState(null, "", to);
      else history.pushState(null, "", to);
    }
    this.onChange();
  }

  private intercept(event: MouseEvent): void {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    const anchor = (event.target as Element | null)?.closest?.("a");
    if (!anchor || anchor.target || anchor.hasAttribute("download") || anchor.dataset.reload !== undefined) return;
    const url = new URL(anchor.href, window.location.href);
    if (url.origin !== window.location.origin || !url.pathname.startsWith(`${this.base}/`)) return;
    if (url.pathname === window.location.pathname && url.hash) return;
    event.preventDefault();
    this.navigate(url.pathname + url.search);
  }
}
