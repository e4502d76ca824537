// The grid-worker app's state and frame: settings, the signed-in session (kept on the device, so the app opens
// signed in after the phone restarts it), the API client, the outbox, what was last read (kept for offline), the
// router, and the frame every page renders into (a header saying online or offline, the bottom navigation with
// the outbox's counts).

import { ApiClient } from "../api/client";
import { Session } from "../api/session";
import type { Category, GridCollection, GridProperties } from "../api/types";
import type { WebConfig } from "../config";
import { h, replace } from "../dom";
import { roleName } from "../i18n";
import { intake, routing } from "./api";
import { Outbox } from "./outbox";
import { type Cleanup, type WorkerRoute, WorkerRouter } from "./router";
import { cacheGet, cachePut } from "./store";
import { W } from "./words";

const TOKEN_KEY = "grid.worker.token";
export const BASE = "/worker";

export interface Cached<T> {
  value: T;
  /** When it was read from the service (ms); null: just now. */
  savedAt: number | null;
}

/** Read from the service and keep a copy on the device; offline (or the service away): the copy, if any. */
export async function readThrough<T>(key: string, read: () => Promise<T>): Promise<Cached<T> | null> {
  try {
    const value = await read();
    await cachePut(key, value);
    return { value, savedAt: null };
  } catch (error) {
    const kept = await cacheGet<T>(key);
    if (kept) return { value: kept.value, savedAt: kept.savedAt };
    throw error;
  }
}

export class WorkerApp {
  readonly api: ApiClient;
  readonly outbox: Outbox;
  readonly router: WorkerRouter;
  session: Session | null = null;
  notice: string | null = null;
  online = navigator.onLine;
  private frame: { main: HTMLElement; update: () => void } | null = null;
  private cleanup: Cleanup | null = null;
  private leaving: AbortController | null = null;
  private renders = 0;
  private categoriesRead: Promise<Category[]> | null = null;
  private warmed: string | null = null;

  constructor(
    readonly config: WebConfig,
    private readonly root: HTMLElement,
    routes: WorkerRoute[],
  ) {
    this.api = new ApiClient(() => this.signOut("登录已过期，请重新登录；未发送的操作会保留在本机。"));
    this.session = WorkerApp.restore();
    this.api.session = this.session;
    this.outbox = new Outbox(this.api, () => this.session?.claims.sub ?? null);
    this.outbox.addEventListener("change", () => this.frame?.update());
    this.router = new WorkerRouter(BASE, routes, () => void this.render());
    const connectivity = () => {
      this.online = navigator.onLine;
      if (this.online) this.warm();
      document.documentElement.dataset.online = String(this.online);
      this.frame?.update();
    };
    window.addEventListener("online", connectivity);
    window.addEventListener("offline", connectivity);
    connectivity();
  }

  /** The worker app's own session (on the device), else the console's in this tab. */
  private static restore(): Session | null {
    const token = localStorage.getItem(TOKEN_KEY);
    if (token) {
      try {
        const session = Session.fromToken(token);
        if (!session.expired) return session;
      } catch {
        /* not a token of ours: forget it */
      }
      localStorage.removeItem(TOKEN_KEY);
    }
    return Session.restore();
  }

  get sub(): string {
    return this.session?.claims.sub ?? "";
  }

  /** Is the case the caller's own to work (its owner unit, or the worker named on it)? */
  owns(owner: { unit_id?: string | null; worker_id?: string | null } | null | undefined): boolean {
    const claims = this.session?.claims;
    if (!claims || !owner) return false;
    return (!!claims.unit && owner.unit_id === claims.unit) || owner.worker_id === claims.sub;
  }

  signIn(token: string, next?: string | null): void {
    const session = Session.fromToken(token);
    localStorage.setItem(TOKEN_KEY, session.token);
    this.session = session;
    this.api.session = session;
    this.notice = null;
    this.frame = null;
    this.categoriesRead = null;
    const target =
      next && next.startsWith(`${BASE}/`) && !next.startsWith(`${BASE}/signin`) ? next : `${BASE}/`;
    this.router.navigate(target, { replace: true });
    void this.outbox.flush({ now: true });
  }

  signOut(notice: string | null = null): void {
    localStorage.removeItem(TOKEN_KEY);
    Session.clear();
    this.session = null;
    this.api.session = null;
    this.notice = notice;
    this.frame = null;
    this.router.navigate(`${BASE}/signin`, { replace: true });
  }

  // ---- what the pages read, kept on the device for offline

  key(name: string): string {
    return `${this.sub}:${name}`;
  }

  categories(): Promise<Category[]> {
    this.categoriesRead ??= readThrough("categories", () => intake.categories(this.api))
      .then((found) => found?.value ?? [])
      .catch(() => []);
    const reading = this.categoriesRead;
    void reading.then((found) => {
      if (!found.length && this.categoriesRead === reading) this.categoriesRead = null; // ask again next time
    });
    return reading;
  }

  async categoryName(code: string): Promise<string> {
    return (await this.categories()).find((c) => c.code === code)?.name_zh ?? code;
  }

  /** The grids of my area (grid level) and their outlines, for the report's grid and its map. */
  async myGrids(): Promise<{ grids: GridProperties[]; outlines: GridCollection } | null> {
    const area = this.session?.claims.area ?? [];
    const found = await readThrough(this.key("grids"), async () => {
      const grids = (await routing.grids(this.api, { level: "grid", limit: 200 })).filter((g) =>
        area.some((prefix) => g.code.startsWith(prefix)),
      );
      const outlines: GridCollection = { type: "FeatureCollection", features: [] };
      for (const code of area.filter(Boolean).slice(0, 10)) {
        outlines.features.push(...(await routing.geojson(this.api, code)).features);
      }
      return { grids, outlines };
    }).catch(() => null);
    return found?.value ?? null;
  }

  /** Read, while online, what the app needs offline later: the categories and my grids (for a report). */
  warm(): void {
    if (!this.session || !navigator.onLine || this.warmed === this.sub) return;
    this.warmed = this.sub;
    void this.categories();
    void this.myGrids();
  }

  // ---- rendering

  async render(): Promise<void> {
    const render = ++this.renders;
    this.cleanup?.();
    this.cleanup = null;
    this.leaving?.abort();
    const leaving = (this.leaving = new AbortController());
    if (this.session?.expired) {
      this.signOut("登录已过期，请重新登录；未发送的操作会保留在本机。");
      return;
    }
    const { pathname, search } = window.location;
    const match = this.router.match(pathname);
    if (match && !match.route.public && !this.session) {
      this.router.navigate(`${BASE}/signin?next=${encodeURIComponent(pathname + search)}`, { replace: true });
      return;
    }
    document.title = `${match?.route.title ?? "页面不存在"} · ${W.appName}`;
    this.warm();
    let outlet: HTMLElement;
    if (!this.session || match?.route.public) {
      this.frame = null;
      outlet = h("main", { id: "main", tabindex: "-1", class: "w-main bare" });
      replace(this.root, outlet);
    } else {
      this.frame ??= this.renderFrame();
      this.frame.update();
      outlet = this.frame.main;
      outlet.replaceChildren();
      for (const name of Object.keys(outlet.dataset)) delete outlet.dataset[name]; // the last page's marks
    }
    this.root.removeAttribute("aria-busy");
    if (!match) {
      replace(outlet, h("h1", {}, "页面不存在"), h("p", {}, h("a", { href: `${BASE}/` }, W.myCases)));
      return;
    }
    try {
      const module = await match.route.load();
      if (render !== this.renders) return;
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
      if (render !== this.renders) return;
      replace(outlet, h("h1", {}, "加载失败"), h("p", { role: "alert" }, String(error)));
    }
    if (render > 1) outlet.focus({ preventScroll: true });
  }

  private renderFrame(): { main: HTMLElement; update: () => void } {
    const claims = this.session!.claims;
    const status = h("span", { class: "w-net", "data-testid": "net-status", role: "status" });
    const main = h("main", { id: "main", tabindex: "-1", class: "w-main" });
    const offlineNote = h("p", { class: "w-offline-note", hidden: true }, W.offlineNote);
    const counts = h("span", { class: "w-count" });
    const queueLink = h(
      "a",
      { href: `${BASE}/queue`, class: "w-tab", "data-testid": "outbox-counts" },
      h("span", { class: "w-tab-label" }, W.queue),
      counts,
    );
    const tabs: [string, HTMLElement][] = [
      [`${BASE}/`, h("a", { href: `${BASE}/`, class: "w-tab" }, h("span", { class: "w-tab-label" }, W.myCases))],
      [`${BASE}/report`, h("a", { href: `${BASE}/report`, class: "w-tab" }, h("span", { class: "w-tab-label" }, W.report))],
      [`${BASE}/queue`, queueLink],
    ];
    const bar = h(
      "div",
      { class: "w-top" },
      h("a", { class: "w-brand", href: `${BASE}/` }, W.appName),
      status,
      h(
        "span",
        { class: "w-who", "data-testid": "who" },
        `${claims.sub}（${roleName(claims.role)}）`,
      ),
      h(
        "button",
        {
          type: "button",
          class: "w-signout",
          onclick: () => {
            const waiting = this.outbox.counts().pending;
            if (waiting && !window.confirm(`还有 ${waiting} 项未发送，退出后将在您再次登录时继续发送。确定退出？`)) return;
            this.signOut();
          },
        },
        W.signOut,
      ),
    );
    const nav = h("nav", { class: "w-tabs", "aria-label": "网格员导航" }, ...tabs.map(([, link]) => link));
    const header = h("header", { class: "w-header" }, bar, offlineNote);
    replace(this.root, header, main, nav);
    return {
      main,
      update: () => {
        status.textContent = this.online ? W.online : W.offline;
        status.dataset.online = String(this.online);
        offlineNote.hidden = this.online;
        const { pending, sent, failed } = this.outbox.counts();
        queueLink.dataset.pending = String(pending);
        queueLink.dataset.sent = String(sent);
        queueLink.dataset.failed = String(failed);
        queueLink.dataset.state = this.outbox.state;
        replace(
          counts,
          pending ? h("span", { class: "w-badge" }, `${pending}`) : null,
          failed ? h("span", { class: "w-badge failed" }, `失败${failed}`) : null,
        );
        queueLink.setAttribute(
          "aria-label",
          `${W.queue}：待发送 ${pending} 项，已送达 ${sent} 项，发送失败 ${failed} 项`,
        );
        const here = window.location.pathname;
        for (const [path, link] of tabs) {
          const current = path === `${BASE}/` ? here === path || here.startsWith(`${BASE}/cases/`) : here === path;
          if (current) link.setAttribute("aria-current", "page");
          else link.removeAttribute("aria-current");
        }
      },
    };
  }
}
