// A small history-API router. Pages are loaded lazily (one chunk each), so a page's libraries (Leaflet for the
// map, ECharts for the rankings later) load only when someone opens it. nginx answers every path with
// index.html (try_files), so a reload or a shared link lands on the same page.

import type { App } from "./app";
import type { Role } from "./api/session";

export type Cleanup = () => void;

export interface PageContext {
  app: App;
  /** `:name` parts of the route's path. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** Aborted when the page is left: pass it to requests and streams. */
  signal: AbortSignal;
}

export type Page = (root: HTMLElement, ctx: PageContext) => void | Cleanup | Promise<void | Cleanup>;

export interface PageModule {
  default: Page;
}

export interface RouteDef {
  /** e.g. "/map", "/cases/:id". */
  path: string;
  title: string;
  load: () => Promise<PageModule>;
  /** Open without signing in (the sign-in page). */
  public?: boolean;
  /** Who may open it (default: anyone signed in). */
  roles?: Role[];
  /** Listed in the header's navigation, under this label. */
  nav?: string;
  /** "bare": no header (sign-in). Default: inside the console's shell. */
  layout?: "shell" | "bare";
}

export interface Match {
  route: RouteDef;
  params: Record<string, string>;
}

function compile(path: string): RegExp {
  const pattern = path
    .split("/")
    .map((part) => (part.startsWith(":") ? `(?<${part.slice(1)}>[^/]+)` : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${pattern}/?$`);
}

export class Router {
  private readonly compiled: [RegExp, RouteDef][];

  constructor(
    readonly routes: RouteDef[],
    private readonly onChange: () => void,
  ) {
    this.compiled = routes.map((route) => [compile(route.path), route]);
    window.addEventListener("popstate", () => this.onChange());
    document.addEventListener("click", (event) => this.intercept(event));
  }

  match(pathname: string): Match | null {
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

  /** Same-origin links navigate in the page (no reload); modified clicks, new tabs and downloads do not. */
  private intercept(event: MouseEvent): void {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    const anchor = (event.target as Element | null)?.closest?.("a");
    if (!anchor || anchor.target || anchor.hasAttribute("download") || anchor.dataset.reload !== undefined) return;
    const url = new URL(anchor.href, window.location.href);
    if (url.origin !== window.location.origin || url.pathname.startsWith("/api/")) return;
    if (url.pathname === window.location.pathname && url.hash) return; // in-page anchors (the skip link)
    event.preventDefault();
    this.navigate(url.pathname + url.search);
  }
}
