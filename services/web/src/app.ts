// The console's state: its settings, the signed-in session, the one API client, the router; and the rendering
// of a route (sign-in guard, role guard, the shell, the page's lifetime).

import { ApiClient } from "./api/client";
import { intake } from "./api/endpoints";
import { Session } from "./api/session";
import { renderShell, type Shell } from "./components/shell";
import type { WebConfig } from "./config";
import { h, replace } from "./dom";
import { T } from "./i18n";
import { type Cleanup, type Match, Router } from "./router";
import { homeOf, ROUTES } from "./routes";

export class App {
  readonly api: ApiClient;
  readonly router: Router;
  session: Session | null;
  notice: string | null = null;
  private shell: Shell | null = null;
  private cleanup: Cleanup | null = null;
  private leaving: AbortController | null = null;
  private categories: Promise<Map<string, string>> | null = null;
  private renders = 0;

  constructor(
    readonly config: WebConfig,
    private readonly root: HTMLElement,
  ) {
    this.api = new ApiClient(() => this.signOut(T.sessionExpired));
    this.session = Session.restore();
    this.api.session = this.session;
    this.router = new Router(ROUTES, () => void this.render());
  }

  signIn(token: string, next?: string | null): void {
    const session = Session.fromToken(token);
    session.save();
    this.session = session;
    this.api.session = session;
    this.notice = null;
    this.shell = null;
    this.router.navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : homeOf(session.claims.role), {
      replace: true,
    });
  }

  signOut(notice: string | null = null): void {
    Session.clear();
    this.session = null;
    this.api.session = null;
    this.notice = notice;
    this.shell = null;
    this.router.navigate("/signin", { replace: true });
  }

  /** Category code → Chinese name (intake's table, read once). */
  categoryNames(): Promise<Map<string, string>> {
    this.categories ??= intake
      .categories(this.api)
      .then((rows) => new Map(rows.map((row) => [row.code, row.name_zh])))
      .catch(() => new Map());
    return this.categories;
  }

  async render(): Promise<void> {
    const render = ++this.renders;
    this.cleanup?.();
    this.cleanup = null;
    this.leaving?.abort();
    const leaving = (this.leaving = new AbortController());

    if (this.session?.expired) this.signOut(T.sessionExpired);
    const { pathname, search } = window.location;
    const match: Match | null = this.router.match(pathname);
    if (match && !match.route.public && !this.session) {
      this.router.navigate(`/signin?next=${encodeURIComponent(pathname + search)}`, { replace: true });
      return;
    }
    const title = match?.route.title ?? T.notFound;
    document.title = `${title} · ${T.appName}`;

    let outlet: HTMLElement;
    if (match?.route.layout === "bare" || !this.session) {
      this.shell = null;
      outlet = h("main", { id: "main", tabindex: "-1", class: "bare" });
      replace(this.root, outlet);
    } else {
      this.shell ??= renderShell(this.root, this);
      this.shell.update(pathname);
      outlet = this.shell.main;
      outlet.replaceChildren();
    }
    this.root.removeAttribute("aria-busy");

    if (!match) {
      replace(outlet, h("h1", {}, T.notFound), h("p", {}, h("a", { href: "/" }, "返回首页")));
      return;
    }
    if (match.route.roles && this.session && !this.session.hasRole(...match.route.roles)) {
      replace(outlet, h("h1", {}, T.forbidden), h("p", {}, h("a", { href: "/" }, "返回首页")));
      return;
    }
    try {
      const module = await match.route.load();
      if (render !== this.renders) return; // navigated elsewhere meanwhile
      const cleanup = await module.default(outlet, {
        app: this,
        params: match.params,
        query: new URLSearchParams(search),
        signal: leaving.signal,
      });
      if (render !== this.renders) {
        if (typeof cleanup === "function") cleanup();
        return;
      }
      this.cleanup = typeof cleanup === "function" ? cleanup : null;
    } catch (error) {
      replace(outlet, h("h1", {}, T.loadFailed), h("p", { role: "alert" }, String(error)));
    }
    if (render > 1) outlet.focus({ preventScroll: true }); // after a navigation, start reading at the page
  }
}
