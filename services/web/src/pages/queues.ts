// The command centre's queues (issue 16): the cases routing handed to the centre (no place or owner by the rules,
// a second return awaiting its final dispatch 终审, a return as 信息不全 or 重复, another return or 上报 the rules
// cannot settle), and the owners' 延期 and 挂起 requests awaiting the centre's decision; from intake's
// GET /v1/incidents?queue=…, inside the caller's area. Each case links to its page, where it is dispatched or
// decided.

import "../styles/console.css";

import { intake } from "../api/endpoints";
import type { CentreQueueKind, IncidentSummary, QueueName } from "../api/types";
import {
  caseLink,
  dataTable,
  field,
  loadNames,
  type Names,
  problemText,
  row,
  select,
  statusLine,
} from "../components/console-kit";
import { h, replace } from "../dom";
import { areaName, formatDateTime, QUEUE_NAMES, STATUS_NAMES, T, URGENCY_NAMES } from "../i18n";
import type { PageContext } from "../router";

const REFRESH_EVERY_MS = 30000;
const AMOUNT_UNITS: Record<string, string> = { working_days: "个工作日", working_hours: "个工作小时", hours: "小时" };

interface Section {
  queue: QueueName;
  element: HTMLElement;
  load: () => Promise<number>;
}

export default async function queuesPage(root: HTMLElement, ctx: PageContext): Promise<() => void> {
  const { app, signal } = ctx;
  const session = app.session!;
  const summary = statusLine("queues-summary");
  let names: Names | null = null;

  const urgency = (item: IncidentSummary) => URGENCY_NAMES[item.urgency] ?? item.urgency;
  const owner = (item: IncidentSummary) => (item.owner ? item.owner.unit_name || names?.unit(item.owner.unit_id) : "—");
  const place = (item: IncidentSummary) => item.grid_code ?? "未定位";
  const attrs = (item: IncidentSummary) => ({ "data-incident": item.id, "data-grid": item.grid_code ?? "" });

  const kind = select("kind", [["centre", "全部"], ...(Object.entries(QUEUE_NAMES) as [string, string][])], "centre");

  function section(
    queue: QueueName,
    title: string,
    hint: string,
    headers: string[],
    cells: (item: IncidentSummary) => (Node | string | null)[],
    extra?: HTMLElement,
  ): Section {
    const id = `queue-${queue}-title`;
    const count = h("span", { class: "count" });
    const body = h("div", { class: "queue-body", "aria-busy": "true" });
    const element = h(
      "section",
      { class: "panel queue", "aria-labelledby": id, "data-queue": queue },
      h("h2", { id }, title, " ", count),
      h("p", { class: "hint" }, hint),
      extra ?? null,
      body,
    );
    const load = async (): Promise<number> => {
      const which = queue === "centre" ? (kind.value as QueueName) : queue;
      try {
        const page = await intake.queue(app.api, which, {}, signal);
        replace(
          body,
          dataTable(title, headers, page.items.map((item) => row(cells(item), attrs(item))), "队列为空。", {
            "data-testid": `queue-${queue}`,
          }),
        );
        replace(count, `（${page.items.length}${page.next_cursor ? "+" : ""} 件）`);
        body.removeAttribute("aria-busy");
        return page.items.length;
      } catch (error) {
        if (!signal.aborted) replace(body, h("p", { class: "error", role: "alert" }, problemText(error)));
        return 0;
      }
    };
    return { queue, element, load };
  }

  const kindFilter = h("form", { class: "inline-filter" }, field("queue-kind", "队列类型", kind));
  const sections: Section[] = [
    section(
      "centre",
      "中心待派遣",
      "路由规则无法确定责任单位、二次退单待终审、信息不全或重复退回的案件，由指挥中心派遣或改派。",
      ["队列", "案件", "类别", "紧急程度", "状态", "网格", "进入队列", "原因"],
      (item) => [
        h("span", { class: "queue-kind", "data-kind": item.queue?.kind ?? "" }, QUEUE_NAMES[item.queue?.kind as CentreQueueKind] ?? "—"),
        caseLink(item.id, item.title),
        names?.category(item.category) ?? item.category,
        urgency(item),
        STATUS_NAMES[item.status] ?? item.status,
        place(item),
        formatDateTime(item.queue?.since),
        item.queue?.reason ?? "",
      ],
      kindFilter,
    ),
    section(
      "extension",
      "延期申请",
      "责任单位提出的延期申请，待指挥中心审批（第二次延期须领导审批）。",
      ["案件", "责任单位", "申请延期", "理由", "申请人", "申请时间"],
      (item) => {
        const asked = item.pending_extension;
        return [
          caseLink(item.id, item.title),
          owner(item) ?? "—",
          asked ? `${asked.amount} ${AMOUNT_UNITS[asked.unit] ?? asked.unit}` : "",
          asked?.reason ?? "",
          asked?.requested_by ?? "",
          formatDateTime(asked?.at),
        ];
      },
    ),
    section(
      "suspension",
      "挂起申请",
      "责任单位因法院、季节、资金或联系不上当事人等单位以外的原因申请挂起，待指挥中心审批。",
      ["案件", "责任单位", "理由", "挂起至", "申请人", "申请时间"],
      (item) => {
        const asked = item.pending_suspension;
        return [
          caseLink(item.id, item.title),
          owner(item) ?? "—",
          asked?.reason ?? "",
          asked?.until ? formatDateTime(asked.until) : "挂账（不定期）",
          asked?.requested_by ?? "",
          formatDateTime(asked?.at),
        ];
      },
    ),
  ];
  const refresh = h("button", { type: "button", class: "button secondary" }, "刷新");

  replace(
    root,
    h(
      "div",
      { class: "console-page" },
      h(
        "div",
        { class: "page-head" },
        h("h1", {}, "中心队列"),
        h("p", { class: "area" }, `${T.area}：${areaName(session.claims.area)}`),
        summary,
        refresh,
      ),
      h("div", { class: "queues" }, ...sections.map((s) => s.element)),
    ),
  );

  const loadAll = async () => {
    const counts = await Promise.all(sections.map((s) => s.load()));
    if (signal.aborted) return;
    replace(
      summary,
      `待派遣 ${counts[0]} · 延期申请 ${counts[1]} · 挂起申请 ${counts[2]} · ${T.lastUpdated} ${formatDateTime(new Date().toISOString())}`,
    );
  };
  kind.addEventListener("change", () => void sections[0].load());
  kindFilter.addEventListener("submit", (event) => event.preventDefault());
  refresh.addEventListener("click", () => void loadAll());

  names = await loadNames(app, signal).catch(() => null);
  await loadAll();
  root.querySelector(".queues")?.setAttribute("data-ready", "true");
  const every = setInterval(() => void loadAll(), REFRESH_EVERY_MS);
  return () => clearInterval(every);
}
