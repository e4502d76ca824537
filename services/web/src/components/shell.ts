// The console's frame: the header (name, navigation by role, who is signed in, sign out) and the main region
// pages render into.

import type { App } from "../app";
import { h, replace } from "../dom";
import { areaName, roleName, T } from "../i18n";

export interface Shell {
  main: HTMLElement;
  update(pathname: string): void;
}

export function renderShell(root: HTMLElement, app: App): Shell {
  const claims = app.session!.claims;
  const nav = h("ul", { class: "nav-list" });
  const main = h("main", { id: "main", tabindex: "-1" });
  const header = h(
    "header",
    { class: "top" },
    h("a", { class: "brand", href: "/" }, h("span", { class: "brand-name" }, T.appName), h("span", { class: "brand-sub" }, T.appSubtitle)),
    h("nav", { "aria-label": "主导航" }, nav),
    h(
      "div",
      { class: "who" },
      h(
        "span",
        { class: "who-text", "data-testid": "who" },
        `${T.signedInAs}：${claims.sub}（${roleName(claims.role)}）· ${T.area}：${areaName(claims.area)}`,
      ),
      h("button", { type: "button", class: "button secondary", onclick: () => app.signOut() }, T.signOut),
    ),
  );
  replace(root, header, main);
  const routes = app.router.routes.filter(
    (route) => route.nav && (!route.roles || app.session?.hasRole(...route.roles)),
  );
  return {
    main,
    update(pathname: string) {
      replace(
        nav,
        ...routes.map((route) =>
          h("li", {}, h("a", { href: route.path, "aria-current": route.path === pathname ? "page" : false }, route.nav!)),
        ),
      );
    },
  };
}
