// What the supervisor console's pages (boards, queues, the case page, the 红黑榜) share: refusals in words, 督办
// badges with their shape, the time left of a clock, labelled form fields, accessible tables, names of units and
// categories read once per page.

import type { App } from "../app";
import { ApiError } from "../api/client";
import { routing } from "../api/endpoints";
import type { BoardClock, Level, Unit } from "../api/types";
import { h, svgIcon } from "../dom";
import { formatSpan, LEVEL_NAMES } from "../i18n";

/** What a refusal means, in words: the kind of refusal first (by its status), then what the service said. */
export function problemText(error: unknown): string {
  if (error instanceof DOMException && error.name === "AbortError") return "请求已取消。";
  if (!(error instanceof ApiError)) {
    return `无法连接服务，请检查网络后重试（${error instanceof Error ? error.message : String(error)}）。`;
  }
  const { status, problem } = error;
  const lead =
    status === 400 || status === 422
      ? "提交的内容有误"
      : status === 401
        ? "登录已失效，请重新登录"
        : status === 403
          ? "无权执行此操作（超出本人角色或辖区）"
          : status === 404
            ? "未找到，或不在本人辖区内"
            : status === 409
              ? "案件当前状态不允许此操作"
              : status === 413
                ? "文件过大"
                : status === 415
                  ? "不支持的文件类型"
                  : status === 429
                    ? "请求过于频繁，请稍后再试"
                    : status >= 500
                      ? "服务暂时不可用，请稍后重试"
                      : `请求失败（HTTP ${status}）`;
  const said = [problem.detail || problem.title, ...(problem.errors ?? []).map((e) => `${e.field}：${e.message}`)]
    .filter((part, i, all) => part && all.indexOf(part) === i)
    .join("；");
  return said ? `${lead}：${said}` : `${lead}。`;
}

const LEVEL_ORDER: Level[] = ["none", "reminder", "yellow_card", "red_card", "leader"];
export const ESCALATED: Level[] = ["reminder", "yellow_card", "red_card", "leader"];

export function levelRank(level: Level): number {
  return LEVEL_ORDER.indexOf(level);
}

/** A 督办 level with a flag's shape and its words (none: "未督办", a hollow dash). */
export function levelBadge(level: Level): HTMLElement {
  const icon =
    level === "none"
      ? svgIcon([{ d: "M4 8h8", stroke: "currentColor" }])
      : svgIcon([{ d: "M3 14V2M3 2.5h9l-2 3l2 3H3", stroke: "currentColor" }]);
  return h(
    "span",
    { class: `event-badge level-badge level-${level}`, "data-level": level },
    icon,
    h("span", {}, LEVEL_NAMES[level] ?? level),
  );
}

/** The time a clock has left, as the centre reads it: working time (in working days of the calendar's length)
 * for a limit in working time, natural time for an `hours` limit; overdue, paused or stopped said in words. */
export function remainingText(clock: BoardClock, elapsedSeconds = 0): string {
  if (!clock.running) return "已停止计时";
  const working = clock.counts_in === "working_time";
  const left = (working ? clock.remaining_working_seconds : clock.remaining_seconds) - (clock.counting ? elapsedSeconds : 0);
  const span = working ? formatSpan(left, clock.working_day_seconds, "个工作日") : formatSpan(left);
  const kind = working ? "工作时间" : "";
  const paused = clock.paused ? "（已挂起，暂停计时）" : !clock.counting && working ? "（非工作时间，暂停计时）" : "";
  return left >= 0 ? `剩余${kind} ${span}${paused}` : `已超时${kind ? `（${kind}）` : ""} ${span}${paused}`;
}

export function field(id: string, label: string, control: HTMLElement, hint?: string): HTMLElement {
  const hintId = hint ? `${id}-hint` : undefined;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  control.id = id;
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
  );
}

export function select(name: string, options: [string, string][], value = ""): HTMLSelectElement {
  return h(
    "select",
    { name },
    ...options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)),
  );
}

/** A table with its caption and column headers (scope=col); `empty` is said in one row when there is none. */
export function dataTable(
  caption: string,
  headers: string[],
  rows: HTMLTableRowElement[],
  empty: string,
  attrs: Record<string, string> = {},
  { captionShown = true } = {},
): HTMLElement {
  const body = h("tbody", {}, ...rows);
  if (!rows.length) body.append(h("tr", { class: "empty-row" }, h("td", { colspan: headers.length }, empty)));
  return h(
    "div",
    { class: "table-wrap", role: "region", "aria-label": caption, tabindex: "0" },
    h(
      "table",
      { class: "data-table", ...attrs },
      h("caption", { class: captionShown ? null : "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, ...headers.map((text) => h("th", { scope: "col" }, text)))),
      body,
    ),
  );
}

export function row(cells: (Node | string | null)[], attrs: Record<string, string> = {}): HTMLTableRowElement {
  return h("tr", attrs, ...cells.map((cell) => h("td", {}, cell ?? "")));
}

/** A case's link: its title (or its short number) to the case page. */
export function caseLink(id: string, title?: string | null): HTMLAnchorElement {
  return h("a", { href: `/cases/${encodeURIComponent(id)}`, "data-case": id }, title || `案件 ${id.slice(0, 8)}`);
}

export interface Names {
  unit(id: string | null | undefined): string;
  category(code: string | null | undefined): string;
  units: Unit[];
}

/** Unit and category names for a page: the units the caller may dispatch to (inside its area) and intake's
 * categories; an id is shown as itself when it is not among them. */
export async function loadNames(app: App, signal: AbortSignal): Promise<Names> {
  const [units, categories] = await Promise.all([
    app.session!.hasRole("supervisor", "leader", "admin")
      ? routing.units(app.api, {}, signal).catch(() => [] as Unit[])
      : Promise.resolve([] as Unit[]),
    app.categoryNames(),
  ]);
  const unitNames = new Map(units.map((u) => [u.id, u.name]));
  return {
    units,
    unit: (id) => (id ? (unitNames.get(id) ?? id) : "—"),
    category: (code) => (code ? (categories.get(code) ?? code) : "—"),
  };
}

/** A status line pages announce their loading and results in (role=status: read out politely). */
export function statusLine(testid: string): HTMLElement {
  return h("p", { class: "summary", role: "status", "data-testid": testid });
}
