// 红黑榜 and rates (issue 16): the monthly or quarterly ranking of a level's units (supervision GET /v1/rankings)
// and their rates (GET /v1/stats): 及时签收率, 按期办结率, 满意率, 回退率 as ECharts charts and as tables (the
// tables are the charts' text); both exportable as XLSX or CSV, written by supervision and downloaded with the
// token. ECharts is imported here only, so it loads with this page's chunk and no other.

import "../styles/console.css";

import { BarChart } from "echarts/charts";
import { AriaComponent, GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";

import { type Period, supervision } from "../api/endpoints";
import type { MetricName, RankLevel, Rankings, Stats, UnitFigures } from "../api/types";
import { dataTable, field, problemText, row, select, statusLine } from "../components/console-kit";
import { h, replace } from "../dom";
import { areaName, formatDateTime, formatRate, LOCALE, T, TIME_ZONE, UNIT_KIND_NAMES } from "../i18n";
import type { PageContext } from "../router";

echarts.use([BarChart, GridComponent, TooltipComponent, LegendComponent, AriaComponent, CanvasRenderer]);

/** The four rates the page charts (issue 16), in the order the centre reads them. */
const SHOWN: [MetricName, string][] = [
  ["timely_sign_rate", "及时签收率"],
  ["on_time_completion_rate", "按期办结率"],
  ["satisfaction_rate", "满意率"],
  ["return_rate", "回退率"],
];
const LEVELS: RankLevel[] = ["district", "street", "community", "grid", "department"];
const PALETTE = ["#1f3a5f", "#2e7d32", "#b26a00", "#b71c1c"];

function monthOf(iso: string): string {
  const parts = new Intl.DateTimeFormat(LOCALE, { timeZone: TIME_ZONE, year: "numeric", month: "2-digit" }).formatToParts(new Date(iso));
  const year = parts.find((p) => p.type === "year")!.value;
  const month = parts.find((p) => p.type === "month")!.value;
  return `${year}-${month}`;
}

function quartersUpTo(month: string, count = 8): string[] {
  let [year, m] = month.split("-").map(Number);
  let quarter = Math.floor((m - 1) / 3) + 1;
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    out.push(`${year}-Q${quarter}`);
    quarter -= 1;
    if (quarter === 0) {
      quarter = 4;
      year -= 1;
    }
  }
  return out;
}

/** The level a caller's area is ranked at by default: the units one below its own area. */
function defaultLevel(area: string[]): RankLevel {
  const code = area[0] ?? "";
  if (area.includes("") || code.length <= 6) return "street";
  return code.length <= 9 ? "community" : "grid";
}

function unitName(unit: UnitFigures): string {
  return unit.name ? `${unit.name}（${unit.key}）` : unit.key;
}

function rateCell(unit: UnitFigures, metric: MetricName): string {
  const figures = unit.metrics[metric];
  return figures.denominator ? `${formatRate(figures.rate)}（${figures.numerator}/${figures.denominator}）` : "—";
}

export default async function rankingsPage(root: HTMLElement, ctx: PageContext): Promise<() => void> {
  const { app, signal } = ctx;
  const session = app.session!;
  const summary = statusLine("rankings-summary");
  const downloads = h("p", { class: "notice-line", role: "status", "data-testid": "rankings-download" });
  const urls: string[] = [];
  const charts: echarts.ECharts[] = [];

  const now = await supervision.clock(app.api).then((c) => c.now).catch(() => new Date().toISOString());
  const thisMonth = monthOf(now);
  const kind = select("period", [["month", "月度"], ["quarter", "季度"]], ctx.query.get("quarter") ? "quarter" : "month");
  const month = h("input", { type: "month", name: "month", value: ctx.query.get("month") ?? thisMonth, max: thisMonth, required: true });
  const quarter = select("quarter", quartersUpTo(thisMonth).map((q) => [q, q] as [string, string]), ctx.query.get("quarter") ?? undefined);
  const level = select(
    "level",
    LEVELS.map((l) => [l, UNIT_KIND_NAMES[l]] as [string, string]),
    (ctx.query.get("level") as RankLevel | null) ?? defaultLevel(session.claims.area),
  );
  const monthField = field("rank-month", "月份", month);
  const quarterField = field("rank-quarter", "季度", quarter);
  const form = h(
    "form",
    { class: "filters card", "aria-label": "统计周期与层级" },
    field("rank-period", "周期", kind),
    monthField,
    quarterField,
    field("rank-level", "层级", level),
    h("div", { class: "filter-actions" }, h("button", { type: "submit", class: "button" }, "查询")),
  );
  const showPeriod = () => {
    monthField.hidden = kind.value !== "month";
    quarterField.hidden = kind.value !== "quarter";
  };
  showPeriod();
  kind.addEventListener("change", showPeriod);

  const exportButton = (what: "rankings" | "stats", format: "xlsx" | "csv", label: string) => {
    const button = h("button", { type: "button", class: "button secondary", "data-export": `${what}-${format}` }, label);
    button.addEventListener("click", async () => {
      button.disabled = true;
      replace(downloads, "正在生成文件…");
      try {
        const params = what === "rankings" ? { ...period(), level: level.value as RankLevel } : { ...period(), group_by: level.value };
        const { blob, filename } = await supervision.exportFile(app.api, what, params, format);
        const url = URL.createObjectURL(blob);
        urls.push(url);
        const name = filename ?? `${what}.${format}`;
        const link = h("a", { href: url, download: name, hidden: true });
        document.body.append(link);
        link.click();
        link.remove();
        replace(downloads, `已下载 ${name}。`);
      } catch (error) {
        replace(downloads, `导出失败：${problemText(error)}`);
      } finally {
        button.disabled = false;
      }
    });
    return button;
  };

  const lists = h("div", { class: "red-black" });
  const scoreChart = h("div", { class: "chart", role: "img", "aria-label": "得分图" });
  const ratesChart = h("div", { class: "chart", role: "img", "aria-label": "比率图" });
  const rankingTable = h("div");
  const statsTable = h("div");
  replace(
    root,
    h(
      "div",
      { class: "console-page rankings-page" },
      h(
        "div",
        { class: "page-head" },
        h("h1", {}, "红黑榜与考核比率"),
        h("p", { class: "area" }, `${T.area}：${areaName(session.claims.area)}`),
        summary,
      ),
      form,
      h(
        "div",
        { class: "export-bar", role: "group", "aria-label": "导出" },
        exportButton("rankings", "xlsx", "导出红黑榜（XLSX）"),
        exportButton("rankings", "csv", "导出红黑榜（CSV）"),
        exportButton("stats", "xlsx", "导出比率（XLSX）"),
        exportButton("stats", "csv", "导出比率（CSV）"),
        downloads,
      ),
      lists,
      h(
        "div",
        { class: "charts" },
        h("figure", { class: "panel" }, h("figcaption", {}, "得分（前 20 名）"), scoreChart),
        h("figure", { class: "panel" }, h("figcaption", {}, "及时签收率、按期办结率、满意率、回退率"), ratesChart),
      ),
      h("section", { class: "panel", "aria-labelledby": "ranking-title" }, h("h2", { id: "ranking-title" }, "排名"), rankingTable),
      h("section", { class: "panel", "aria-labelledby": "stats-title" }, h("h2", { id: "stats-title" }, "各单位比率"), statsTable),
    ),
  );

  function period(): Period {
    return kind.value === "quarter" ? { quarter: quarter.value } : { month: month.value };
  }

  const chartOf = (element: HTMLElement) => {
    const chart = echarts.init(element, undefined, { renderer: "canvas", locale: "ZH" });
    charts.push(chart);
    return chart;
  };
  const score = chartOf(scoreChart);
  const rates = chartOf(ratesChart);
  const onResize = () => charts.forEach((c) => c.resize());
  window.addEventListener("resize", onResize);

  const render = (ranking: Rankings, stats: Stats) => {
    const label = `${ranking.month ?? ranking.quarter} · ${UNIT_KIND_NAMES[ranking.level]}`;
    replace(
      summary,
      `${label} · ${ranking.units.length} 个单位 · ${ranking.frozen ? "已冻结" : `未冻结（${formatDateTime(ranking.freeze_at)} 冻结）`} · 数据截至 ${formatDateTime(ranking.as_of)}`,
    );
    const byKey = new Map(ranking.units.map((u) => [u.key, u]));
    const list = (title: string, keys: string[], cls: string) =>
      h(
        "section",
        { class: `panel ${cls}`, "aria-labelledby": `${cls}-title` },
        h("h2", { id: `${cls}-title` }, title),
        keys.length
          ? h("ol", {}, ...keys.map((key) => h("li", { "data-key": key }, unitName(byKey.get(key) ?? { key, name: null } as UnitFigures), byKey.get(key)?.score != null ? ` · ${byKey.get(key)!.score!.toFixed(1)} 分` : "")))
          : h("p", { class: "hint" }, "本期无（案件不足 10 件的单位不排名）。"),
      );
    replace(lists, list("红榜（前 5 名）", ranking.red_list, "red-list"), list("黑榜（后 5 名）", ranking.black_list, "black-list"));

    const scored = ranking.units.filter((u) => u.score !== null).slice(0, 20);
    score.setOption(
      {
        aria: { enabled: true, decal: { show: true } },
        tooltip: { trigger: "axis" },
        grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
        xAxis: { type: "value", max: 100, name: "分" },
        yAxis: { type: "category", inverse: true, data: scored.map((u) => u.name ?? u.key) },
        series: [{ type: "bar", name: "得分", data: scored.map((u) => u.score), itemStyle: { color: PALETTE[0] }, label: { show: true, position: "right", formatter: "{c}" } }],
      },
      true,
    );
    scoreChart.setAttribute("aria-label", `得分图：${scored.map((u) => `${u.name ?? u.key} ${u.score}`).join("，") || "无已计分单位"}`);

    const shown = [...stats.rows].sort((a, b) => b.cases - a.cases).slice(0, 12);
    rates.setOption(
      {
        aria: { enabled: true, decal: { show: true } },
        tooltip: { trigger: "axis", valueFormatter: (v: unknown) => (typeof v === "number" ? `${v.toFixed(1)}%` : "—") },
        legend: { top: 0 },
        grid: { left: 8, right: 8, top: 32, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: shown.map((u) => u.name ?? u.key), axisLabel: { interval: 0, rotate: shown.length > 6 ? 30 : 0 } },
        yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
        series: SHOWN.map(([metric, name], i) => ({
          type: "bar",
          name,
          itemStyle: { color: PALETTE[i] },
          data: shown.map((u) => (u.metrics[metric].rate === null ? null : Math.round(u.metrics[metric].rate! * 1000) / 10)),
        })),
      },
      true,
    );
    ratesChart.setAttribute(
      "aria-label",
      `比率图：${shown.map((u) => `${u.name ?? u.key}：${SHOWN.map(([m, n]) => `${n} ${formatRate(u.metrics[m].rate)}`).join("，")}`).join("；") || "无数据"}`,
    );

    replace(
      rankingTable,
      dataTable(
        `${label} 排名`,
        ["名次", "单位", "榜单", "得分", "案件数", "督办扣分", ...SHOWN.map(([, n]) => n)],
        ranking.units.map((u) =>
          row(
            [
              u.rank === null ? "不排名" : String(u.rank),
              unitName(u),
              ranking.red_list.includes(u.key) ? "红榜" : ranking.black_list.includes(u.key) ? "黑榜" : "",
              u.score === null ? "不计分" : u.score.toFixed(1),
              String(u.cases),
              String(u.escalation_points),
              ...SHOWN.map(([m]) => rateCell(u, m)),
            ],
            { "data-key": u.key },
          ),
        ),
        "本期没有数据。",
        { "data-testid": "ranking-table" },
      ),
    );
    replace(
      statsTable,
      dataTable(
        `${label} 比率（分子/分母）`,
        ["单位", "案件数", ...SHOWN.map(([, n]) => n), "结案率"],
        stats.rows.map((u) => row([unitName(u), String(u.cases), ...SHOWN.map(([m]) => rateCell(u, m)), rateCell(u, "closure_rate")], { "data-key": u.key })),
        "本期没有数据。",
        { "data-testid": "stats-table" },
      ),
    );
  };

  let loading = 0;
  const load = async () => {
    const mine = ++loading;
    summary.textContent = T.loading;
    try {
      const [ranking, stats] = await Promise.all([
        supervision.rankings(app.api, period(), level.value as RankLevel, signal),
        supervision.stats(app.api, period(), level.value as RankLevel, signal),
      ]);
      if (mine !== loading || signal.aborted) return;
      render(ranking, stats);
      const query = new URLSearchParams({ ...(period() as Record<string, string>), level: level.value });
      history.replaceState(history.state, "", `/rankings?${query}`);
    } catch (error) {
      if (!signal.aborted) replace(summary, `${T.loadFailed}：${problemText(error)}`);
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (form.reportValidity()) void load();
  });

  await load();
  root.querySelector(".rankings-page")?.setAttribute("data-ready", "true");
  return () => {
    window.removeEventListener("resize", onResize);
    charts.forEach((c) => c.dispose());
    urls.forEach((url) => URL.revokeObjectURL(url));
  };
}
