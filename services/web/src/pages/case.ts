// The case page (issue 16): the record and its timeline (intake), its clocks with the time left counted in
// working time (supervision: the calendar counts it, the page only ticks it down between reads), its assignment
// history (routing), the SMS and mail told and the 12345 callbacks sent (notifications), its photos (intake,
// fetched with the token, shown as blob: URLs); and what the caller's role may do on it: 改派/派遣, approve or
// refuse an extension or a 挂起, raise 督办. Another area's case is "not found", as the services answer.

import "../styles/console.css";

import { ApiError } from "../api/client";
import { intake, notifications, routing, supervision } from "../api/endpoints";
import type {
  Assignments,
  Attachment,
  CaseClock,
  Delivery,
  Incident,
  Level,
  TimelineEntry,
} from "../api/types";
import {
  dataTable,
  field,
  levelBadge,
  levelRank,
  loadNames,
  type Names,
  problemText,
  remainingText,
  row,
  select,
} from "../components/console-kit";
import { lightBadge } from "../components/lights";
import { h, replace } from "../dom";
import {
  ASSIGNMENT_NAMES,
  CHANNEL_NAMES,
  DELIVERY_STATUS_NAMES,
  formatDateTime,
  LEVEL_NAMES,
  PHASE_NAMES,
  SOURCE_NAMES,
  STATUS_NAMES,
  TIMELINE_NAMES,
  UNIT_KIND_NAMES,
  URGENCY_NAMES,
} from "../i18n";
import type { PageContext } from "../router";

const CLOSED = ["closed", "visited", "merged", "rejected"];
const CALLBACK_NAMES: Record<string, string> = {
  accepted: "受理",
  signed: "签收",
  returned: "退回",
  extension_requested: "申请延期",
  result: "办结",
  closed: "结案",
};
const AMOUNT_UNITS: Record<string, string> = { working_days: "个工作日", working_hours: "个工作小时", hours: "小时" };
const CLOCK_EVERY_MS = 30000;
const OWNER_POLL_MS = 1000;
const OWNER_POLL_TIMES = 30;

/** Maybe absent (404: no clock yet, no routing yet): null instead of a refusal. */
async function orNull<T>(promise: Promise<T>): Promise<T | null> {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

function panel(id: string, title: string, ...children: (Node | null)[]): HTMLElement {
  return h("section", { class: "panel", "aria-labelledby": id, "data-panel": id }, h("h2", { id }, title), ...children);
}

function facts(pairs: [string, Node | string | null | undefined][]): HTMLElement {
  const list = h("dl", { class: "facts" });
  for (const [term, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    list.append(h("dt", {}, term), h("dd", {}, value));
  }
  return list;
}

function timelineDetail(entry: TimelineEntry, names: Names): string {
  const d = entry.detail as Record<string, unknown>;
  const text = (key: string) => (typeof d[key] === "string" || typeof d[key] === "number" ? String(d[key]) : "");
  const parts: string[] = [];
  // `unit` is an organisation, except beside an amount (an extension's working_days, hours…).
  if (d.unit_name || (d.unit && d.amount === undefined)) parts.push(`单位：${text("unit_name") || names.unit(text("unit"))}`);
  if (d.previous_unit) parts.push(`原单位：${names.unit(text("previous_unit"))}`);
  if (d.approved !== undefined) parts.push(d.approved ? "批准" : "不批准");
  if (d.amount) parts.push(`${text("amount")} ${AMOUNT_UNITS[text("unit")] ?? ""}`.trim());
  if (d.queue) parts.push(`队列：${text("queue")}`);
  for (const key of ["reason", "note", "result", "until", "into", "kind", "count"]) {
    if (text(key)) parts.push(`${{ reason: "原因", note: "说明", result: "结果", until: "至", into: "并入", kind: "类型", count: "次数" }[key]}：${key === "until" ? formatDateTime(text(key)) : text(key)}`);
  }
  if (d.passed !== undefined) parts.push(d.passed ? "核查通过" : "核查未通过");
  return parts.join("；");
}

export default async function casePage(root: HTMLElement, ctx: PageContext): Promise<() => void> {
  const { app, signal, params } = ctx;
  const session = app.session!;
  const id = params.id;
  const urls: string[] = [];
  const timers: ReturnType<typeof setInterval>[] = [];
  const cleanup = () => {
    timers.forEach(clearInterval);
    urls.forEach((url) => URL.revokeObjectURL(url));
  };

  const heading = h("h1", { "data-testid": "case-title" }, "案件");
  const notice = h("p", { class: "notice-line", role: "status", "aria-live": "polite", "data-testid": "case-notice" });
  replace(root, h("div", { class: "console-page case-page", "aria-busy": "true" }, h("div", { class: "page-head" }, heading), notice));
  const page = root.firstElementChild as HTMLElement;

  let incident: Incident;
  try {
    incident = await intake.incident(app.api, id, signal);
  } catch (error) {
    page.removeAttribute("aria-busy");
    if (error instanceof ApiError && (error.status === 404 || error.status === 422)) {
      replace(heading, "未找到案件");
      replace(notice);
      page.append(
        h(
          "p",
          { class: "not-found", "data-testid": "case-not-found" },
          "没有这个案件，或它不在您的辖区内。",
          h("a", { href: "/boards" }, "返回督办看板"),
        ),
      );
    } else {
      replace(heading, "案件加载失败");
      page.append(h("p", { class: "error", role: "alert" }, problemText(error)));
    }
    return cleanup;
  }

  const names = await loadNames(app, signal);
  const centre = session.hasRole("supervisor", "leader", "admin");
  const decides = session.hasRole("supervisor", "leader");

  // ---- the page's regions, filled by the reads below
  const record = h("div");
  const clockBody = h("div", { "data-testid": "case-clock" });
  const actions = h("div", { class: "actions" });
  const timeline = h("ol", { class: "timeline", "data-testid": "case-timeline" });
  const assignmentsBody = h("div", { "data-testid": "case-assignments" });
  const deliveriesBody = h("div", { "data-testid": "case-deliveries" });
  const attachmentsBody = h("div", { "data-testid": "case-attachments" });
  const viewer = h("dialog", { class: "viewer", "aria-label": "查看附件" });
  page.append(
    h(
      "div",
      { class: "case-grid" },
      panel("case-record", "案件信息", record),
      panel("case-clock-title", "时限与督办", clockBody),
      panel("case-actions", "操作", actions),
      panel("case-timeline-title", "处理过程", timeline),
      panel("case-assignments-title", "派遣记录", assignmentsBody),
      panel("case-deliveries-title", "通知与 12345 回传", deliveriesBody),
      panel("case-attachments-title", "附件", attachmentsBody),
    ),
    viewer,
  );

  let clock: CaseClock | null = null;
  let clockReadAt = 0;
  let assignments: Assignments | null = null;

  const renderRecord = () => {
    replace(heading, incident.title);
    const owner = incident.owner;
    record.replaceChildren(
      facts([
        ["案件编号", h("code", {}, incident.id)],
        ["状态", h("span", { class: "status", "data-status": incident.status }, STATUS_NAMES[incident.status] ?? incident.status)],
        ["类别", names.category(incident.category)],
        ["紧急程度", URGENCY_NAMES[incident.urgency] ?? incident.urgency],
        ["来源", SOURCE_NAMES[incident.source] ?? incident.source],
        ["12345 工单号", incident.hotline_order_no],
        ["网格", incident.grid_code ?? "未定位"],
        ["地址", incident.address],
        [
          "责任单位",
          owner
            ? h(
                "span",
                { "data-testid": "case-owner", "data-unit": owner.unit_id },
                `${owner.unit_name || names.unit(owner.unit_id)}（${UNIT_KIND_NAMES[owner.unit_kind] ?? owner.unit_kind}）${owner.worker_name ? ` · ${owner.worker_name}` : ""}`,
              )
            : "尚未派遣",
        ],
        ["协办单位", incident.co_owners.map((o) => o.unit_name || names.unit(o.unit_id)).join("、")],
        ["受理时间", formatDateTime(incident.received_at)],
        ["办理时限（12345）", incident.deadline ? formatDateTime(incident.deadline) : null],
        ["退单次数", incident.return_count ? String(incident.return_count) : null],
        ["已批延期", incident.extension_working_days ? `${incident.extension_working_days} 个工作日` : null],
        ["挂起至", incident.suspended_until ? formatDateTime(incident.suspended_until) : null],
        ["描述", incident.description],
      ]),
    );
    replace(
      timeline,
      ...incident.timeline.map((entry) =>
        h(
          "li",
          { "data-action": entry.action },
          h("time", { datetime: entry.at }, formatDateTime(entry.at)),
          h("strong", {}, TIMELINE_NAMES[entry.action] ?? entry.action),
          entry.actor ? h("span", { class: "actor" }, entry.actor) : null,
          h("span", { class: "detail" }, timelineDetail(entry, names)),
        ),
      ),
    );
  };

  const countdown = h("p", { class: "countdown", "data-testid": "case-countdown" });
  const tick = () => {
    if (!clock) return;
    replace(countdown, remainingText(clock, (Date.now() - clockReadAt) / 1000));
    countdown.dataset.counting = String(clock.counting);
  };
  const renderClock = () => {
    if (!clock) {
      replace(clockBody, h("p", { class: "hint" }, CLOSED.includes(incident.status) ? "案件已办结，无运行中的时限。" : "尚无时限（案件未派遣或未开始计时）。"));
      return;
    }
    const c = clock;
    const limit = `${c.limit.amount} ${AMOUNT_UNITS[c.limit.unit] ?? c.limit.unit}${c.extension.amount ? `（已延期 ${c.extension.amount} ${AMOUNT_UNITS[c.extension.unit] ?? ""}）` : ""}`;
    tick();
    replace(
      clockBody,
      h("div", { class: "clock-head" }, lightBadge(c.light), levelBadge(c.level), h("span", {}, `${PHASE_NAMES[c.phase] ?? c.phase}阶段`)),
      countdown,
      facts([
        ["时限", limit],
        ["计时方式", c.counts_in === "working_time" ? "按工作时间（节假日、午休不计）" : "按自然时间"],
        ["开始", formatDateTime(c.started_at)],
        ["黄灯", formatDateTime(c.yellow_at)],
        ["到期", formatDateTime(c.due_at)],
      ]),
      dataTable(
        "各阶段时限",
        ["阶段", "灯色", "督办", "开始", "到期", "结束"],
        c.history.map((step) =>
          row([
            `${PHASE_NAMES[step.phase] ?? step.phase}（第 ${step.cycle} 轮）`,
            lightBadge(step.light, false),
            LEVEL_NAMES[step.level] ?? step.level,
            formatDateTime(step.started_at),
            formatDateTime(step.due_at),
            step.stopped_at ? formatDateTime(step.stopped_at) : "计时中",
          ]),
        ),
        "无",
      ),
    );
  };

  const renderAssignments = () => {
    const steps = assignments?.history ?? [];
    replace(
      assignmentsBody,
      dataTable(
        "派遣记录",
        ["时间", "方式", "责任单位", "网格员", "说明"],
        steps.map((step) =>
          row(
            [
              formatDateTime(step.at),
              ASSIGNMENT_NAMES[step.kind] ?? step.kind,
              step.unit_id ? names.unit(step.unit_id) : "—",
              step.worker_id ?? "",
              step.reason ?? "",
            ],
            { "data-kind": step.kind, "data-unit": step.unit_id ?? "" },
          ),
        ),
        "尚无派遣记录。",
        {},
        { captionShown: false }, // the panel's heading says it
      ),
    );
  };

  const renderDeliveries = (deliveries: Delivery[]) => {
    const callbacks = deliveries.filter((d) => d.channel === "webhook" && d.recipient.startsWith("12345:"));
    const told = deliveries.filter((d) => !callbacks.includes(d));
    const callbackOf = (d: Delivery) => {
      try {
        const body = JSON.parse(d.body) as { callback?: string };
        return CALLBACK_NAMES[body.callback ?? ""] ?? body.callback ?? "";
      } catch {
        return "";
      }
    };
    replace(
      deliveriesBody,
      dataTable(
        "短信与邮件",
        ["时间", "渠道", "接收方", "状态", "内容"],
        told.map((d) =>
          row(
            [formatDateTime(d.created_at), CHANNEL_NAMES[d.channel] ?? d.channel, d.recipient, DELIVERY_STATUS_NAMES[d.status] ?? d.status, d.body],
            { "data-channel": d.channel },
          ),
        ),
        "尚无通知。",
      ),
      dataTable(
        "12345 回传",
        ["时间", "回传", "工单", "状态", "发送时间"],
        callbacks.map((d) =>
          row(
            [formatDateTime(d.created_at), callbackOf(d), d.recipient.replace(/^12345:/, ""), DELIVERY_STATUS_NAMES[d.status] ?? d.status, formatDateTime(d.sent_at)],
            { "data-channel": "12345" },
          ),
        ),
        incident.hotline_order_no ? "尚无回传。" : "非 12345 工单，无需回传。",
      ),
    );
  };

  const openAttachment = async (attachment: Attachment) => {
    if (!attachment.href) return;
    try {
      const { blob } = await intake.attachmentFile(app.api, attachment.href, signal);
      const url = URL.createObjectURL(blob);
      urls.push(url);
      if (attachment.media_type === "application/pdf") {
        const link = h("a", { href: url, download: attachment.filename ?? "附件.pdf" });
        document.body.append(link);
        link.click();
        link.remove();
        return;
      }
      const close = h("button", { type: "button", class: "button secondary", onclick: () => viewer.close() }, "关闭");
      replace(viewer, h("img", { src: url, alt: `附件原图：${attachment.filename ?? ""}` }), h("p", {}, close));
      viewer.showModal();
      close.focus();
    } catch (error) {
      replace(notice, problemText(error));
    }
  };

  const renderAttachments = async (attachments: Attachment[]) => {
    if (!attachments.length) {
      replace(attachmentsBody, h("p", { class: "hint" }, "尚无附件。"));
      return;
    }
    const list = h("ul", { class: "thumbnails" });
    replace(attachmentsBody, list);
    for (const attachment of attachments) {
      const caption = [
        attachment.filename ?? "附件",
        attachment.captured_at ? `拍摄于 ${formatDateTime(attachment.captured_at)}` : "",
        attachment.gps ? `GPS ${attachment.gps.lon.toFixed(5)}, ${attachment.gps.lat.toFixed(5)}` : "",
        attachment.created_by ? `上传：${attachment.created_by}` : "",
      ].filter(Boolean);
      const item = h("li", { "data-attachment": attachment.id });
      const open = h(
        "button",
        { type: "button", class: "thumb", "aria-label": `查看附件 ${attachment.filename ?? ""}`, disabled: attachment.status !== "stored" },
      );
      open.addEventListener("click", () => void openAttachment(attachment));
      item.append(open, h("p", { class: "hint" }, caption.join(" · ")));
      list.append(item);
      if (attachment.status !== "stored") {
        open.append(attachment.status === "pending" ? "获取中…" : "获取失败");
      } else if (attachment.has_thumbnail && attachment.thumbnail_href) {
        try {
          const { blob } = await intake.attachmentFile(app.api, attachment.thumbnail_href, signal);
          const url = URL.createObjectURL(blob);
          urls.push(url);
          open.append(h("img", { src: url, alt: `附件缩略图：${attachment.filename ?? ""}`, "data-testid": "thumbnail" }));
        } catch {
          open.append("缩略图无法加载");
        }
      } else {
        open.append(attachment.media_type === "application/pdf" ? "PDF 文件（点击下载）" : "无缩略图");
      }
    }
  };

  // ---- actions, by role and by what the case allows now
  function actionForm(
    id: string,
    title: string,
    controls: HTMLElement[],
    buttons: HTMLButtonElement[],
    submit: (button: HTMLButtonElement) => Promise<string>,
  ): HTMLElement {
    const error = h("p", { class: "error", role: "alert" });
    const form = h(
      "form",
      { class: "action-form", "aria-labelledby": `${id}-title`, "data-testid": id },
      h("h3", { id: `${id}-title` }, title),
      ...controls,
      h("div", { class: "filter-actions" }, ...buttons),
      error,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = ((event as SubmitEvent).submitter as HTMLButtonElement | null) ?? buttons[0];
      if (!form.reportValidity()) return;
      replace(error);
      buttons.forEach((b) => (b.disabled = true));
      try {
        replace(notice, await submit(button));
        notice.dataset.outcome = "done";
        await reload();
      } catch (failure) {
        replace(error, problemText(failure));
      } finally {
        buttons.forEach((b) => (b.disabled = false));
      }
    });
    return form;
  }

  const renderActions = () => {
    const forms: HTMLElement[] = [];
    const open = !CLOSED.includes(incident.status);
    if (centre && open) {
      const unit = select("unit", [["", "请选择单位"]]);
      unit.required = true;
      const byKind = new Map<string, HTMLOptGroupElement>();
      for (const u of names.units) {
        const group = byKind.get(u.kind) ?? h("optgroup", { label: UNIT_KIND_NAMES[u.kind] ?? u.kind });
        byKind.set(u.kind, group);
        group.append(h("option", { value: u.id }, `${u.name}${u.id === incident.owner?.unit_id ? "（当前）" : ""}`));
      }
      unit.append(...byKind.values());
      const reason = h("textarea", { name: "reason", rows: 2, maxlength: 500, required: true });
      const verb = incident.owner ? "改派" : "派遣";
      forms.push(
        actionForm(
          "dispatch-form",
          `${verb}（指挥中心）`,
          [field("dispatch-unit", "派往单位", unit), field("dispatch-reason", `${verb}理由`, reason)],
          [h("button", { type: "submit", class: "button" }, verb)],
          async () => {
            const done = await routing.dispatch(app.api, incident.id, { unit: unit.value, reason: reason.value.trim() });
            const to = done.owner.unit_name || names.unit(done.owner.unit_id);
            void followOwner(done.owner.unit_id);
            return `已${verb}至${to}。`;
          },
        ),
      );
    }
    const asked = incident.pending_extension;
    if (decides && asked && incident.allowed_actions.includes("decide_extension")) {
      const amount = h("input", { name: "amount", type: "number", min: "0.5", step: "0.5", max: String(asked.amount), value: String(asked.amount) });
      const approve = h("button", { type: "submit", class: "button", value: "approve" }, "批准延期");
      const refuse = h("button", { type: "submit", class: "button secondary", value: "refuse", formnovalidate: true }, "不批准");
      forms.push(
        actionForm(
          "extension-form",
          "延期审批",
          [
            h("p", {}, `申请延期 ${asked.amount} ${AMOUNT_UNITS[asked.unit] ?? asked.unit}：${asked.reason}${asked.requested_by ? `（${asked.requested_by}）` : ""}`),
            field("extension-amount", `批准延期（${AMOUNT_UNITS[asked.unit] ?? asked.unit}）`, amount, "可少于申请；不批准时不需填写。"),
          ],
          [approve, refuse],
          async (button) => {
            const approved = button === approve;
            await intake.act(app.api, incident.id, { action: "decide_extension", approved, ...(approved ? { amount: Number(amount.value) } : {}) });
            return approved ? `已批准延期 ${amount.value} ${AMOUNT_UNITS[asked.unit] ?? ""}。` : "已不批准延期申请。";
          },
        ),
      );
    }
    const suspension = incident.pending_suspension;
    if (decides && suspension && incident.allowed_actions.includes("decide_suspension")) {
      const note = h("input", { name: "note", maxlength: 500 });
      const approve = h("button", { type: "submit", class: "button", value: "approve" }, "批准挂起");
      const refuse = h("button", { type: "submit", class: "button secondary", value: "refuse" }, "不批准");
      forms.push(
        actionForm(
          "suspension-form",
          "挂起审批",
          [
            h("p", {}, `申请挂起：${suspension.reason}；${suspension.until ? `至 ${formatDateTime(suspension.until)}` : "挂账（不定期）"}`),
            field("suspension-note", "审批意见", note),
          ],
          [approve, refuse],
          async (button) => {
            const approved = button === approve;
            await intake.act(app.api, incident.id, { action: "decide_suspension", approved, note: note.value.trim() });
            return approved ? "已批准挂起，计时暂停。" : "已不批准挂起申请。";
          },
        ),
      );
    }
    if (decides && clock?.running) {
      const current = clock.level;
      const higher = (["reminder", "yellow_card", "red_card", "leader"] as Exclude<Level, "none">[]).filter(
        (level) => levelRank(level) > levelRank(current),
      );
      if (higher.length) {
        const level = select("level", higher.map((l) => [l, LEVEL_NAMES[l]] as [string, string]));
        const note = h("textarea", { name: "note", rows: 2, maxlength: 2000 });
        forms.push(
          actionForm(
            "escalate-form",
            "督办",
            [
              h("p", { class: "hint" }, `当前：${LEVEL_NAMES[current]}。督办级别只升不降。`),
              field("escalate-level", "督办级别", level),
              field("escalate-note", "批示", note),
            ],
            [h("button", { type: "submit", class: "button" }, "发起督办")],
            async () => {
              await supervision.escalate(app.api, incident.id, { level: level.value as Exclude<Level, "none">, note: note.value.trim() });
              return `已发起${LEVEL_NAMES[level.value]}。`;
            },
          ),
        );
      }
    }
    replace(
      actions,
      ...(forms.length
        ? forms
        : [h("p", { class: "hint" }, open ? "当前角色或案件状态下没有可执行的操作。" : "案件已办结。")]),
    );
  };

  const readClock = async () => {
    clock = await orNull(supervision.clockOf(app.api, id, signal));
    clockReadAt = Date.now();
  };

  async function reload(): Promise<void> {
    const [fresh, , steps, deliveries] = await Promise.all([
      intake.incident(app.api, id, signal),
      readClock(),
      orNull(routing.assignments(app.api, id, signal)),
      centre ? notifications.deliveries(app.api, id, signal).catch(() => [] as Delivery[]) : Promise.resolve([] as Delivery[]),
    ]);
    incident = fresh;
    assignments = steps;
    renderRecord();
    renderClock();
    renderAssignments();
    renderDeliveries(deliveries);
    renderActions();
  }

  /** The new owner reaches intake through the bus: read the record again until it says so (or a while passed). */
  async function followOwner(unit: string): Promise<void> {
    for (let n = 0; n < OWNER_POLL_TIMES && !signal.aborted; n++) {
      await new Promise((resolve) => setTimeout(resolve, OWNER_POLL_MS));
      const fresh = await intake.incident(app.api, id, signal).catch(() => null);
      if (fresh?.owner?.unit_id === unit) {
        await reload();
        return;
      }
    }
  }

  try {
    await reload();
    const attachments = await intake.attachments(app.api, id, signal).catch(() => [] as Attachment[]);
    await renderAttachments(attachments);
  } catch (error) {
    replace(notice, problemText(error));
  }
  page.removeAttribute("aria-busy");
  page.dataset.ready = "true";
  timers.push(setInterval(tick, 1000));
  timers.push(
    setInterval(() => {
      void readClock()
        .then(renderClock)
        .catch(() => undefined);
    }, CLOCK_EVERY_MS),
  );
  return cleanup;
}
