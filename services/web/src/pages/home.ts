// The landing page: what the signed-in role can open. The centre's roles go straight to the map (routes.ts).

import { h, replace } from "../dom";
import { roleName } from "../i18n";
import type { PageContext } from "../router";

export default function homePage(root: HTMLElement, { app }: PageContext): void {
  const session = app.session!;
  const pages = app.router.routes.filter((r) => r.nav && (!r.roles || session.hasRole(...r.roles)));
  replace(
    root,
    h("h1", {}, "网格督办台"),
    pages.length
      ? h("ul", {}, ...pages.map((r) => h("li", {}, h("a", { href: r.path }, r.nav!))))
      : h("p", {}, `${roleName(session.claims.role)}的页面即将上线。`),
    // The grid worker's own app (a PWA of its own, another page: loaded, not routed here).
    session.hasRole("gridworker")
      ? h("p", {}, h("a", { class: "button", href: "/worker/", "data-reload": "" }, "打开网格员移动端"))
      : null,
  );
}
