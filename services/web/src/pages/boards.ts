// The boards (issue 16): the yellow, red and 督办 cases of the caller's area from supervision's running clocks,
// filtered by board, area, unit, 督办 level, category and phase (kept in the address, so a board can be shared
// and reloaded); each row links to its case page; a light is its shape and its words, never its colour alone.

import "../styles/console.css";

import { type BoardFilter, routing, supervision } from "../api/endpoints";
import type { BoardClock, GridProperties, Level, Light, Phase } from "../api/types";
import {
  caseLink,
  dataTable,
  ESCALATED,
  field,
  levelBadge,
  loadNames,
  type Names,
  problemText,
  remainingText,
  row,
  select,
  statusLine,
} from "../components/console-kit";
import { lightBadge } from "../components/lights";
import { h, replace } from "../dom";
import { areaName, formatDateTime, LEVEL_NAMES, PHASE_NAMES, T, URGENCY_NAMES } from "../i18n";
import type { PageContext } from "../router";

type Board = "all" | "red" | "yellow" | "escalated";

const BOARDS: [Board, string][] = [
  ["all", "全部（黄灯、红灯、督办）"],
  ["red", "红灯（已超时）"],
  ["yellow", "黄灯（临近时限）"],
  ["escalated", "督办（提醒及以上）"],
];

const REFRESH_EVERY_MS = 60000;

interface Filters {
  board: Board;
  grid_prefix: string;
  unit: string;
  level: "" | Level;
  category: string;
  phase: "" | Phase;
}

function readFilters(query: URLSearchParams): Filters {
  const board = query.get("board") as Board | null;
  const level = query.get("level") ?? "";
  const phase = query.get("phase") ?? "";
  return {
    board: board && BOARDS.some(([b]) => b === board) ? board : "all",
    grid_prefix: /^\d{1,18}$/.test(query.get("grid_prefix") ?? "") ? query.get("grid_prefix")! : "",
    unit: query.get("unit") ?? "",
    level: (level in LEVEL_NAMES ? level : "") as Filters["level"],
    category: /^[a-z_]+(\.[a-z_]+)?$/.test(query.get("category") ?? "") ? query.get("category")! : "",
    phase: (phase in PHASE_NAMES ? phase : "") as Filters["phase"],
  };
}

/** The requests a board needs (the whole board is yellow and red lights, and the 督办 levels: two of them). */
function requests(f: Filters): BoardFilter[] {
  const common: BoardFilter = {
    grid_prefix: f.grid_prefix || undefined,
    unit: f.unit || undefined,
    category: f.category || undefined,
    phase: f.phase || undefined,
  };
  const level = f.level ? [f.level] : undefined;
  switch (f.board) {
    case "red":
      return [{ ...common, light: ["red"], level }];
    case "yellow":
      return [{ ...common, light: ["yellow"], level }];
    case "escalated": {
      const levels = f.level ? ESCALATED.filter((l) => l === f.level) : ESCALATED;
      return levels.length ? [{ ...common, level: levels }] : [];
    }
    default:
      if (f.level === "none") return [{ ...common, light: ["yellow", "red"], level: ["none"] }];
      if (f.level) return [{ ...common, level: [f.level] }];
      return [
        { ...common, light: ["yellow", "red"] },
        { ...common, level: ESCALATED },
      ];
  }
}

function query(f: Filters): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(f)) if (value && !(name === "board" && value === "all")) params.set(name, value);
  const text = params.toString();
  return text ? `?${text}` : "";
}

export default async function boardsPage(root: HTMLElement, ctx: PageContext): Promise<() => void> {
  const { app, signal } = ctx;
  const session = app.session!;
  let filters = readFilters(ctx.query);
  const summary = statusLine("boards-summary");
  const results = h("div", { class: "board-results" });

  // ---- the filter form
  const board = select("board", BOARDS, filters.board);
  const area = h("input", {
    name: "grid_prefix",
    value: filters.grid_prefix,
    list: "board-areas",
    inputmode: "numeric",
    autocomplete: "off",
    pattern: "^[0-9]{0,18}$",
  });
  const areas = h("datalist", { id: "board-areas" });
  const unit = select("unit", [["", "全部单位"]], filters.unit);
  const level = select(
    "level",
    [["", "全部级别"], ...(Object.entries(LEVEL_NAMES) as [string, string][])],
    filters.level,
  );
  const category = select("category", [["", "全部类别"]], filters.category);
  const phase = select("phase", [["", "全部阶段"], ...(Object.entries(PHASE_NAMES) as [string, string][])], filters.phase);
  const form = h(
    "form",
    { class: "filters card", role: "search", "aria-label": "看板筛选", "data-testid": "board-filters" },
    field("board-kind", "看板", board),
    field("board-area", "辖区（网格代码前缀）", area, "区、街道、社区或网格代码；留空为本人全部辖区。"),
    areas,
    field("board-unit", "责任单位", unit),
    field("board-level", "督办级别", level),
    field("board-category", "类别", category),
    field("board-phase", "阶段", phase),
    h(
      "div",
      { class: "filter-actions" },
      h("button", { type: "submit", class: "button" }, "筛选"),
      h("button", { type: "reset", class: "button secondary" }, "清除筛选"),
    ),
  );

  replace(
    root,
    h(
      "div",
      { class: "console-page" },
      h(
        "div",
        { class: "page-head" },
        h("h1", {}, "督办看板"),
        h("p", { class: "area" }, `${T.area}：${areaName(session.claims.area)}`),
        summary,
      ),
      form,
      results,
    ),
  );

  let names: Names | null = null;
  const communities = new Map<string, string>();
  const placeName = (code: string | null): string => {
    if (!code) return "未定位";
    const community = communities.get(code.slice(0, 12));
    return community ? `${community} ${code}` : code;
  };

  const render = (clocks: BoardClock[]) => {
    const rows = clocks.map((clock) =>
      row(
        [
          lightBadge(clock.light),
          levelBadge(clock.level),
          caseLink(clock.incident_id),
          names?.category(clock.category) ?? clock.category,
          `${PHASE_NAMES[clock.phase] ?? clock.phase} · ${URGENCY_NAMES[clock.urgency] ?? clock.urgency}`,
          placeName(clock.grid_code),
          names?.unit(clock.unit_id) ?? clock.unit_id ?? "—",
          formatDateTime(clock.due_at),
          remainingText(clock),
        ],
        {
          "data-incident": clock.incident_id,
          "data-light": clock.light,
          "data-level": clock.level,
          "data-grid": clock.grid_code ?? "",
          class: `light-row light-row-${clock.light}`,
        },
      ),
    );
    replace(
      results,
      dataTable(
        BOARDS.find(([b]) => b === filters.board)![1],
        ["灯色", "督办", "案件", "类别", "阶段·紧急程度", "网格", "责任单位", "时限", "剩余时间"],
        rows,
        "没有符合条件的案件。",
        { "data-testid": "board-table" },
      ),
    );
    const count = (light: Light) => clocks.filter((c) => c.light === light).length;
    const escalated = clocks.filter((c) => c.level !== "none").length;
    replace(
      summary,
      `共 ${clocks.length} 件 · 红灯 ${count("red")} · 黄灯 ${count("yellow")} · 督办 ${escalated} · ${T.lastUpdated} ${formatDateTime(new Date().toISOString())}`,
    );
    summary.dataset.count = String(clocks.length);
  };

  let loading = 0;
  const load = async (): Promise<void> => {
    const mine = ++loading;
    results.setAttribute("aria-busy", "true");
    try {
      const lists = await Promise.all(requests(filters).map((r) => supervision.board(app.api, r, signal)));
      if (mine !== loading || signal.aborted) return;
      const seen = new Set<string>();
      const clocks = lists
        .flat()
        .filter((c) => {
          const key = `${c.incident_id}/${c.phase}`;
          return seen.has(key) ? false : (seen.add(key), true);
        })
        .sort((a, b) => a.due_at.localeCompare(b.due_at));
      render(clocks);
    } catch (error) {
      if (!signal.aborted) replace(summary, `${T.loadFailed}：${problemText(error)}`);
    } finally {
      if (mine === loading) results.removeAttribute("aria-busy");
    }
  };

  const apply = () => {
    filters = {
      board: board.value as Board,
      grid_prefix: area.value.trim(),
      unit: unit.value,
      level: level.value as Filters["level"],
      category: category.value,
      phase: phase.value as Filters["phase"],
    };
    history.replaceState(history.state, "", `/boards${query(filters)}`);
    void load();
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    apply();
  });
  form.addEventListener("reset", () => setTimeout(apply)); // after the form has put its defaults back

  // ---- names for the filters and the rows (the units, categories and places of the caller's area)
  const filling = (async () => {
    names = await loadNames(app, signal);
    for (const u of names.units) unit.append(h("option", { value: u.id, selected: u.id === filters.unit }, u.name));
    const categories = await app.categoryNames();
    const groups = [...new Set([...categories.keys()].map((code) => code.split(".")[0]))];
    for (const group of groups) {
      const optgroup = h("optgroup", { label: group });
      optgroup.append(h("option", { value: group, selected: group === filters.category }, `${group}（整类）`));
      for (const [code, name] of categories) {
        if (code.startsWith(`${group}.`)) optgroup.append(h("option", { value: code, selected: code === filters.category }, name));
      }
      category.append(optgroup);
    }
    for (const gridLevel of ["street", "community"] as const) {
      const rows: GridProperties[] = await routing.grids(app.api, { level: gridLevel, limit: 1000 }).catch(() => []);
      for (const grid of rows) {
        areas.append(h("option", { value: grid.code }, `${grid.name}（${grid.code}）`));
        if (gridLevel === "community") communities.set(grid.code, grid.name);
      }
    }
  })().catch(() => undefined);

  await filling; // names first, so the first rows already say whose and what
  await load();
  results.dataset.ready = "true";
  const every = setInterval(() => void load(), REFRESH_EVERY_MS);
  return () => clearInterval(every);
}
