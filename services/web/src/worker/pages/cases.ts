// 我的案件: the open cases the grid worker owns (its unit's, or naming it), most urgent first, each with its light
// and the time left on its running clock; the reports still on the device; the other open cases of the grid.
// Read from intake (GET /v1/incidents, the caller's area) and supervision (GET /v1/clocks); offline, the copy
// kept from the last read, said so.

import { LIGHT_RANK } from "../../components/lights";
import { h, replace } from "../../dom";
import { formatTime, URGENCY_NAMES } from "../../i18n";
import { type Cached, readThrough } from "../app";
import { intake, supervision } from "../api";
import { clockLine } from "../components/time-left";
import { isOpen } from "../outbox";
import type { WorkerPageContext } from "../router";
import { type IncidentSummary, OPEN_STATUSES, type WorkerClock } from "../types";
import { QUEUE_STATUS_NAMES, STATUS_NAMES, W } from "../words";

const PAGES = 3;
const PAGE_SIZE = 200;

interface Board {
  incidents: IncidentSummary[];
  clocks: WorkerClock[];
  readAt: number;
}

export async function readBoard(ctx: WorkerPageContext): Promise<Cached<Board> | null> {
  const { app, signal } = ctx;
  return readThrough(app.key("board"), async () => {
    const incidents: IncidentSummary[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < PAGES; page++) {
      const found = await intake.incidents(app.api, { limit: PAGE_SIZE, cursor }, signal);
      incidents.push(...found.items.filter((i) => OPEN_STATUSES.includes(i.status)));
      cursor = found.next_cursor;
      if (!cursor) break;
    }
    const clocks = (await supervision.clocks(app.api, {}, signal)).filter((c) => c.running);
    return { incidents, clocks, readAt: Date.now() };
  });
}

function urgencyRank(urgency: string): number {
  return { emergency: 2, urgent: 1 }[urgency] ?? 0;
}

export default async function casesPage(root: HTMLElement, ctx: WorkerPageContext): Promise<() => void> {
  const { app } = ctx;
  const heading = h("h1", {}, W.myCases);
  const state = h("p", { class: "hint", role: "status" }, "正在加载…");
  const mine = h("ul", { class: "w-cases", "data-testid": "my-cases", "aria-label": W.myCases });
  const waitingReports = h("section", { class: "w-section", "aria-labelledby": "waiting-title" });
  const others = h("ul", { class: "w-cases others" });
  const othersBox = h("details", { class: "w-section" }, h("summary", {}, W.otherCases), others);
  const refresh = h("button", { type: "button", class: "button secondary w-refresh" }, "刷新");
  replace(
    root,
    h("div", { class: "w-head" }, heading, refresh),
    state,
    mine,
    waitingReports,
    othersBox,
    h("p", {}, h("a", { class: "button w-wide", href: "/worker/report" }, `＋ ${W.report}`)),
  );
  const ticks: (() => void)[] = [];
  const categories = new Map((await app.categories()).map((c) => [c.code, c.name_zh]));

  const item = (incident: IncidentSummary, clock: WorkerClock | undefined, readAt: number): HTMLElement => {
    const line = clockLine(clock, readAt);
    ticks.push(line.tick);
    const queued = app.outbox.openFor(incident.id).filter(isOpen).length;
    return h(
      "li",
      { class: "w-case", "data-incident": incident.id, "data-light": clock?.light ?? "none" },
      h(
        "a",
        { href: `/worker/cases/${incident.id}`, class: "w-case-link" },
        h("span", { class: "w-case-title" }, incident.title),
        h(
          "span",
          { class: "w-case-meta" },
          h("span", { class: "w-status", "data-status": incident.status }, STATUS_NAMES[incident.status] ?? incident.status),
          ` · ${categories.get(incident.category) ?? incident.category}`,
          incident.urgency !== "normal" ? ` · ${URGENCY_NAMES[incident.urgency] ?? incident.urgency}` : "",
        ),
        line.element,
        queued ? h("span", { class: "w-queued" }, `本机待发送 ${queued} 项`) : null,
      ),
    );
  };

  /** Keep each of my cases (and its clock) on the device, so it opens offline too. */
  const prefetch = (ids: string[]) => {
    delete root.dataset.kept;
    void (async () => {
      for (const id of ids) {
        if (ctx.signal.aborted || !navigator.onLine) return;
        await readThrough(app.key(`case:${id}`), () => intake.incident(app.api, id)).catch(() => null);
        await readThrough(app.key(`clock:${id}`), () => supervision.clock(app.api, id)).catch(() => null);
      }
      root.dataset.kept = "true"; // every case listed is on the device now
    })();
  };

  const draw = (board: Cached<Board>) => {
    ticks.length = 0;
    const { incidents, clocks, readAt } = board.value;
    const byCase = new Map(clocks.map((c) => [c.incident_id, c]));
    const rank = (i: IncidentSummary) => {
      const c = byCase.get(i.id);
      return [-(c ? LIGHT_RANK[c.light] : 0), c ? c.remaining_seconds : Infinity, -urgencyRank(i.urgency)];
    };
    const sorted = [...incidents].sort((a, b) => {
      const [x, y] = [rank(a), rank(b)];
      return x[0] - y[0] || x[1] - y[1] || x[2] - y[2] || b.received_at.localeCompare(a.received_at);
    });
    const own = sorted.filter((i) => app.owns(i.owner));
    if (!board.savedAt) prefetch(own.slice(0, 30).map((i) => i.id));
    const rest = sorted.filter((i) => !app.owns(i.owner));
    replace(mine, ...(own.length ? own.map((i) => item(i, byCase.get(i.id), readAt)) : [h("li", { class: "w-empty" }, W.noCases)]));
    replace(others, ...rest.map((i) => item(i, byCase.get(i.id), readAt)));
    othersBox.hidden = rest.length === 0;
    replace(
      state,
      board.savedAt
        ? `${W.offline}：显示${W.savedAt} ${formatTime(board.savedAt)} 的案件（共 ${own.length} 件）`
        : `共 ${own.length} 件在办 · ${W.savedAt.replace("本机保存于", "更新于")} ${formatTime(Date.now())}`,
    );
    root.dataset.ready = "true";
  };

  const drawWaiting = () => {
    const reports = app.outbox.mine().filter((i) => i.kind === "report" && i.status !== "sent");
    waitingReports.hidden = reports.length === 0;
    replace(
      waitingReports,
      h("h2", { id: "waiting-title" }, W.pendingReports),
      h(
        "ul",
        { class: "w-cases" },
        ...reports.map((r) =>
          h(
            "li",
            { class: "w-case", "data-local": r.localId },
            h(
              "a",
              { href: "/worker/queue", class: "w-case-link" },
              h("span", { class: "w-case-title" }, r.caseTitle),
              h("span", { class: "w-case-meta" }, QUEUE_STATUS_NAMES[r.status], r.error ? ` · ${r.error}` : ""),
            ),
          ),
        ),
      ),
    );
  };

  let loading = false;
  let again = false;
  const load = async () => {
    if (loading) {
      again = true; // read once more when this read is done: what changed meanwhile is shown
      return;
    }
    loading = true;
    refresh.disabled = true;
    try {
      do {
        again = false;
        const board = await readBoard(ctx);
        if (board && !ctx.signal.aborted) draw(board);
      } while (again && !ctx.signal.aborted);
    } catch (error) {
      if (!ctx.signal.aborted) replace(state, `加载失败：${error instanceof Error ? error.message : String(error)}`);
    } finally {
      loading = false;
      refresh.disabled = false;
    }
  };
  refresh.addEventListener("click", () => void load());
  drawWaiting();
  await load();

  let soon: number | undefined;
  const onSent = () => {
    window.clearTimeout(soon);
    soon = window.setTimeout(() => void load(), 300); // a burst of sends: one read after it
  };
  const onChange = () => drawWaiting();
  app.outbox.addEventListener("sent", onSent);
  app.outbox.addEventListener("change", onChange);
  const timer = window.setInterval(() => ticks.forEach((tick) => tick()), 30_000);
  return () => {
    window.clearInterval(timer);
    window.clearTimeout(soon);
    app.outbox.removeEventListener("sent", onSent);
    app.outbox.removeEventListener("change", onChange);
  };
}
