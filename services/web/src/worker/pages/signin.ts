// Sign-in of the grid-worker app, the console's two ways (../../pages/signin.ts): on dev and test stacks a picker
// (role 网格员, a grid, the worker and unit of that grid) backed by supervision's POST /v1/dev/token; everywhere a
// JWT from the city's sign-on, pasted or handed over in the URL fragment (#access_token=…, taken by main.ts).

import { ApiClient, ApiError } from "../../api/client";
import { routing, supervision } from "../../api/endpoints";
import { InvalidToken, Session } from "../../api/session";
import type { GridProperties } from "../../api/types";
import { h, replace } from "../../dom";
import type { WorkerPageContext } from "../router";
import { W } from "../words";

function field(id: string, label: string, control: HTMLElement, hint?: string): HTMLElement {
  if (hint) control.setAttribute("aria-describedby", `${id}-hint`);
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
  );
}

/** The city's grids, read with a short-lived development admin token (dev and test stacks only). */
async function gridsToPick(): Promise<GridProperties[]> {
  const lookup = new ApiClient(() => undefined);
  const minted = await supervision.devToken(lookup, { role: "admin", area: [""], sub: "dev-worker-lookup" });
  lookup.session = Session.fromToken(minted.token);
  return routing.grids(lookup, { level: "grid", limit: 1000 });
}

export default function signInPage(root: HTMLElement, { app, query }: WorkerPageContext): void {
  const next = query.get("next");
  const parts: HTMLElement[] = [
    h("h1", {}, `${W.appName} · 登录`),
    h("p", { class: "lead" }, "网格化社会治理 网格员移动端：我的案件、签收办结、事件上报；离线也能用。"),
  ];
  if (app.notice) parts.push(h("p", { class: "notice", role: "alert" }, app.notice));
  if (!navigator.onLine) parts.push(h("p", { class: "notice", role: "status" }, "当前离线：登录需要联网。"));

  if (app.config.devSignIn) {
    const grid = h("select", { id: "dev-grid", name: "grid", required: true }, h("option", { value: "" }, "正在加载网格…"));
    const sub = h("input", { id: "dev-sub", name: "sub", autocomplete: "username", required: true });
    const unit = h("input", { id: "dev-unit", name: "unit", autocomplete: "organization" });
    grid.addEventListener("change", () => {
      if (!grid.value) return;
      sub.value = `gw-${grid.value}`;
      unit.value = `grid-${grid.value}`;
    });
    const error = h("p", { class: "error", role: "alert" });
    const form = h(
      "form",
      { class: "card", id: "dev-signin", "aria-labelledby": "dev-signin-title" },
      h("h2", { id: "dev-signin-title" }, "开发环境登录"),
      h("p", { class: "hint" }, "仅在开发和测试环境提供：选择网格即以该网格的网格员登录，令牌由督办服务签发。"),
      field("dev-grid", "网格", grid),
      field("dev-sub", "用户名", sub, "网格员编号，例如 gw-320508019044001"),
      field("dev-unit", "所属单位", unit, "网格的单位编号，例如 grid-320508019044001"),
      h("button", { type: "submit", class: "button" }, "登录"),
      error,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      replace(error);
      if (!grid.value) {
        replace(error, "请选择网格");
        return;
      }
      try {
        const minted = await supervision.devToken(app.api, {
          role: "gridworker",
          area: [grid.value],
          sub: sub.value.trim() || `gw-${grid.value}`,
          unit: unit.value.trim() || undefined,
        });
        app.signIn(minted.token, next);
      } catch (failure) {
        replace(
          error,
          failure instanceof ApiError && failure.status === 404
            ? "此环境不提供开发登录，请使用统一身份认证令牌。"
            : `登录失败：${failure instanceof Error ? failure.message : String(failure)}`,
        );
      }
    });
    parts.push(form);
    gridsToPick()
      .then((grids) => {
        replace(
          grid,
          h("option", { value: "" }, "请选择网格"),
          ...grids.map((g) => h("option", { value: g.code }, `${g.name}（${g.code}）`)),
        );
        grid.dataset.ready = "true";
      })
      .catch(() => replace(grid, h("option", { value: "" }, "网格列表加载失败")));
  }

  const token = h("textarea", { id: "jwt", name: "token", rows: 3, spellcheck: "false", autocomplete: "off" });
  const tokenError = h("p", { class: "error", role: "alert" });
  const tokenForm = h(
    "form",
    { class: "card", id: "token-signin", "aria-labelledby": "token-signin-title" },
    h("h2", { id: "token-signin-title" }, "统一身份认证登录"),
    app.config.signOnUrl
      ? h("p", {}, h("a", { class: "button", href: app.config.signOnUrl, "data-reload": "" }, "前往统一身份认证"))
      : null,
    field("jwt", "访问令牌（JWT）", token, "由城市统一身份认证签发；也可由其登录页以 #access_token=… 带回本页。"),
    h("button", { type: "submit", class: "button secondary" }, "使用令牌登录"),
    tokenError,
  );
  tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    try {
      app.signIn(token.value, next);
    } catch (failure) {
      replace(tokenError, failure instanceof InvalidToken ? failure.message : String(failure));
    }
  });
  parts.push(tokenForm);
  replace(root, h("div", { class: "signin w-signin" }, ...parts));
}
