// Sign-in. On dev and test stacks: a role and area picker backed by supervision's POST /v1/dev/token (which
// exists only there). Everywhere: a JWT from the city's sign-on, pasted here or handed over in the URL fragment
// (#access_token=…, taken by main.ts), with a link to the sign-on page when one is configured.

import { ApiClient, ApiError } from "../api/client";
import { routing, supervision } from "../api/endpoints";
import { InvalidToken, type Role, ROLES, Session } from "../api/session";
import { h, replace } from "../dom";
import { roleName, T } from "../i18n";
import type { PageContext } from "../router";

function field(id: string, label: string, control: HTMLElement, hint?: string): HTMLElement {
  const hintId = hint ? `${id}-hint` : undefined;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
  );
}

/** Areas to pick from (districts, streets, communities), read with a short-lived development admin token. */
async function fillAreas(datalist: HTMLDataListElement, signal: AbortSignal): Promise<void> {
  const lookup = new ApiClient(() => undefined);
  const minted = await supervision.devToken(lookup, { role: "admin", area: [""], sub: "dev-signin-lookup" });
  lookup.session = Session.fromToken(minted.token);
  for (const level of ["district", "street", "community"] as const) {
    if (signal.aborted) return;
    const rows = await routing.grids(lookup, { level, limit: 1000 });
    for (const row of rows) datalist.append(h("option", { value: row.code }, `${row.name}（${row.code}）`));
  }
}

export default function signInPage(root: HTMLElement, { app, query, signal }: PageContext): void {
  const next = query.get("next");
  const parts: HTMLElement[] = [
    h("h1", {}, `${T.appName} · ${T.signIn}`),
    h("p", { class: "lead" }, "网格化社会治理指挥中心：亮灯地图、实时告警与督办。"),
  ];
  if (app.notice) parts.push(h("p", { class: "notice", role: "alert" }, app.notice));

  if (app.config.devSignIn) {
    const role = h(
      "select",
      { id: "dev-role", name: "role" },
      ...ROLES.map((r) => h("option", { value: r, selected: r === "supervisor" }, roleName(r))),
    );
    const datalist = h("datalist", { id: "area-options" });
    const area = h("input", {
      id: "dev-area",
      name: "area",
      value: "320508",
      list: "area-options",
      inputmode: "numeric",
      autocomplete: "off",
      pattern: "^[0-9,，\\s]*$",
    });
    const sub = h("input", { id: "dev-sub", name: "sub", value: "dev-supervisor", autocomplete: "username" });
    role.addEventListener("change", () => {
      if (sub.value.startsWith("dev-")) sub.value = `dev-${role.value}`;
    });
    const error = h("p", { class: "error", role: "alert" });
    const form = h(
      "form",
      { class: "card", id: "dev-signin", "aria-labelledby": "dev-signin-title" },
      h("h2", { id: "dev-signin-title" }, "开发环境登录"),
      h("p", { class: "hint" }, "仅在开发和测试环境提供：选择角色和辖区即可登录，令牌由督办服务签发。"),
      field("dev-role", "角色", role),
      field("dev-area", "辖区代码", area, "区、街道、社区或网格代码，多个用逗号分隔；留空为全市。"),
      datalist,
      field("dev-sub", "用户名", sub),
      h("button", { type: "submit", class: "button" }, T.signIn),
      error,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      replace(error);
      const codes = area.value.split(/[,，\s]+/).filter(Boolean);
      try {
        const minted = await supervision.devToken(app.api, {
          role: role.value as Role,
          area: codes.length ? codes : [""],
          sub: sub.value.trim() || "dev",
        });
        app.signIn(minted.token, next);
      } catch (failure) {
        const message =
          failure instanceof ApiError && failure.status === 404
            ? "此环境不提供开发登录，请使用统一身份认证令牌。"
            : `登录失败：${failure instanceof Error ? failure.message : String(failure)}`;
        replace(error, message);
      }
    });
    parts.push(form);
    void fillAreas(datalist, signal).catch(() => undefined);
  }

  const token = h("textarea", { id: "jwt", name: "token", rows: 4, spellcheck: "false", autocomplete: "off" });
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
  replace(root, h("div", { class: "signin" }, ...parts));
}
