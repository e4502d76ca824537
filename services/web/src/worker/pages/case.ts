// A case: what it is, its light and time left, its photos and timeline, and the grid worker's actions on it —
// 签收, 进展 (a note, photos), 上报 (to the level above, with a reason), 退单 (with a reason of the field's list)
// and 办结 (the result, photos). Every action goes to the outbox: sent at once when online, kept on the device and
// sent when the network returns otherwise. Until then the page shows the case as those actions will leave it
// (and what is still to be sent), so a worker offline can sign and then finish.

import { ApiError } from "../../api/client";
import { h, replace } from "../../dom";
import { formatTime, URGENCY_NAMES } from "../../i18n";
import { readThrough } from "../app";
import { intake, supervision } from "../api";
import { photoPicker } from "../components/photos";
import { clockLine } from "../components/time-left";
import { isOpen, type NewItem, newKey, type OutboxItem } from "../outbox";
import type { WorkerPageContext } from "../router";
import type { AttachmentOut, Incident, Status, WorkerClock } from "../types";
import { ACTION_NAMES, QUEUE_STATUS_NAMES, RETURN_REASONS, STATUS_NAMES, TIMELINE_NAMES, W } from "../words";

/** What each of the worker's actions makes of the case (intake's rules, domain/model.py RULES). */
const NEXT_STATUS: Record<string, Status | null> = {
  sign: "in_progress",
  progress: null,
  submit_result: "pending_verification",
  return: "returned",
  refer_up: "received",
};

/** The owner's actions in each state (intake's RULES for owner roles; extensions and 挂起 are the console's). */
const OWNER_ACTIONS: Partial<Record<Status, string[]>> = {
  assigned: ["sign", "return", "refer_up"],
  in_progress: ["progress", "submit_result", "refer_up", "return"],
};

function predicted(incident: Incident, queued: OutboxItem[]): Status {
  let status = incident.status;
  for (const item of queued) {
    if (item.kind === "action" && isOpen(item) && item.action) status = NEXT_STATUS[item.action] ?? status;
  }
  return status;
}

function detailText(entry: Incident["timeline"][number]): string {
  const d = entry.detail ?? {};
  const parts: string[] = [];
  for (const name of ["note", "reason", "result", "unit_name", "filename"]) {
    const value = d[name];
    if (typeof value === "string" && value) parts.push(value);
  }
  if (Array.isArray(d.attachments) && d.attachments.length) parts.push(`附照片 ${d.attachments.length} 张`);
  return parts.join(" · ");
}

/** A photo of the case, read with the caller's token (an <img> cannot send one) and shown from memory. */
async function thumbnail(ctx: WorkerPageContext, attachment: AttachmentOut): Promise<HTMLElement | null> {
  const href = attachment.thumbnail_href ?? attachment.href;
  if (!href || attachment.media_type === "application/pdf") return null;
  const response = await fetch(`/api/intake${href}`, { headers: ctx.app.api.authHeaders(), signal: ctx.signal });
  if (!response.ok) return null;
  const url = URL.createObjectURL(await response.blob());
  ctx.signal.addEventListener("abort", () => URL.revokeObjectURL(url));
  return h(
    "li",
    { class: "w-photo" },
    h("img", { src: url, alt: `照片：${attachment.filename ?? attachment.id}（${formatTime(attachment.created_at)}）` }),
  );
}

export default async function casePage(root: HTMLElement, ctx: WorkerPageContext): Promise<() => void> {
  const { app, params, signal } = ctx;
  const id = params.id;
  const status = h("p", { class: "hint", role: "status" }, "正在加载…");
  replace(root, h("p", {}, h("a", { href: "/worker/" }, `‹ ${W.myCases}`)), status);

  let incident: Incident | null = null;
  let savedAt: number | null = null;
  let clock: WorkerClock | undefined;
  let clockReadAt = Date.now();
  let ticks: (() => void)[] = [];
  let open: string | null = null; // the action whose form is open
  const flash = h("p", { class: "w-flash", role: "status", "aria-live": "polite" });

  const read = async () => {
    try {
      const found = await readThrough(app.key(`case:${id}`), () => intake.incident(app.api, id, signal));
      if (!found) return;
      incident = found.value;
      savedAt = found.savedAt;
    } catch (error) {
      if (signal.aborted) return;
      replace(status, error instanceof ApiError && error.status === 404 ? "案件不存在或不在您的辖区。" : `加载失败：${String(error)}`);
      return;
    }
    try {
      const found = await readThrough(app.key(`clock:${id}`), () => supervision.clock(app.api, id, signal));
      clock = found?.value.running ? found.value : undefined;
      clockReadAt = found?.savedAt ?? Date.now();
    } catch {
      clock = undefined; // no running clock (a 404) and none kept
    }
  };

  const photos = h("ul", { class: "w-photos", "aria-label": "案件照片" });
  const loadPhotos = async () => {
    if (!navigator.onLine) return;
    try {
      const attachments = await intake.attachments(app.api, id, signal);
      const items = (await Promise.all(attachments.filter((a) => a.status === "stored").map((a) => thumbnail(ctx, a))))
        .filter((x): x is HTMLElement => x !== null);
      replace(photos, ...(items.length ? items : [h("li", { class: "hint" }, "暂无照片")]));
      photos.dataset.count = String(attachments.length);
    } catch {
      /* photos are a nicety here; the timeline says how many there are */
    }
  };

  const enqueue = async (items: NewItem[], done: string) => {
    await app.outbox.enqueue(items);
    open = null;
    replace(flash, navigator.onLine ? `${done}：正在发送…` : `${done}：已保存在本机，联网后自动发送。`);
    draw();
  };

  const actionItem = (action: string, body: Record<string, unknown>, photoRefs: string[] = []): NewItem => ({
    kind: "action",
    action,
    label: ACTION_NAMES[action] ?? action,
    caseTitle: incident!.title,
    incident: { id },
    body: { action, ...body },
    photoRefs,
  });

  const photoItems = (files: File[]): NewItem[] =>
    files.map((file, n) => ({
      kind: "upload",
      localId: newKey(),
      label: `照片 ${n + 1}/${files.length}`,
      caseTitle: incident!.title,
      incident: { id },
      file,
      filename: file.name || `photo-${n + 1}.jpg`,
    }));

  const form = (action: string): HTMLElement => {
    const name = ACTION_NAMES[action];
    const error = h("p", { class: "error", role: "alert" });
    const cancel = h("button", { type: "button", class: "button secondary", onclick: () => ((open = null), draw()) }, "取消");
    if (action === "progress" || action === "submit_result") {
      const finishing = action === "submit_result";
      const text = h("textarea", { id: `${action}-text`, rows: 4, required: finishing, maxlength: finishing ? 4000 : 2000 });
      const picker = photoPicker(`${action}-photos`, finishing ? "处置照片" : "现场照片");
      const element = h(
        "form",
        { class: "card w-form", "aria-label": name },
        h("div", { class: "field" }, h("label", { for: `${action}-text` }, finishing ? "办结情况" : "进展说明"), text),
        picker.element,
        h("div", { class: "w-buttons" }, h("button", { type: "submit", class: "button" }, finishing ? "提交办结" : "提交进展"), cancel),
        error,
      );
      element.addEventListener("submit", (event) => {
        event.preventDefault();
        if (finishing && !text.value.trim()) return replace(error, "请填写办结情况");
        if (!finishing && !text.value.trim() && picker.files().length === 0) return replace(error, "请填写进展说明或附上照片");
        const uploads = photoItems(picker.files());
        const body = finishing ? { result: text.value.trim() } : { note: text.value.trim() };
        void enqueue([...uploads, actionItem(action, body, uploads.map((u) => u.localId!))], name);
      });
      return element;
    }
    if (action === "refer_up") {
      const reason = h("textarea", { id: "refer-reason", rows: 3, required: true, maxlength: 500 });
      const element = h(
        "form",
        { class: "card w-form", "aria-label": name },
        h("div", { class: "field" }, h("label", { for: "refer-reason" }, "上报原因"), reason,
          h("p", { class: "hint" }, "说明需要上级协调处置的原因（上报不计入退单）。")),
        h("div", { class: "w-buttons" }, h("button", { type: "submit", class: "button" }, "提交上报"), cancel),
        error,
      );
      element.addEventListener("submit", (event) => {
        event.preventDefault();
        if (!reason.value.trim()) return replace(error, "请填写上报原因");
        void enqueue([actionItem("refer_up", { reason: reason.value.trim() })], name);
      });
      return element;
    }
    // 退单
    const choices = RETURN_REASONS.map((r, n) =>
      h(
        "label",
        { class: "w-choice" },
        h("input", { type: "radio", name: "return-kind", value: String(n), required: true }),
        ` ${r.words}`,
        h("span", { class: "hint" }, `（${r.hint}）`),
      ),
    );
    const details = h("textarea", { id: "return-details", rows: 3, maxlength: 400 });
    const element = h(
      "form",
      { class: "card w-form", "aria-label": name },
      h("fieldset", { class: "w-fieldset" }, h("legend", {}, "退单原因"), ...choices),
      h("div", { class: "field" }, h("label", { for: "return-details" }, "补充说明"), details),
      h("div", { class: "w-buttons" }, h("button", { type: "submit", class: "button" }, "提交退单"), cancel),
      error,
    );
    element.addEventListener("submit", (event) => {
      event.preventDefault();
      const picked = element.querySelector<HTMLInputElement>('input[name="return-kind"]:checked');
      if (!picked) return replace(error, "请选择退单原因");
      const reason = RETURN_REASONS[Number(picked.value)];
      const words = details.value.trim() ? `${reason.words}：${details.value.trim()}` : reason.words;
      void enqueue([actionItem("return", { reason: words, kind: reason.kind })], name);
    });
    return element;
  };

  const draw = () => {
    if (!incident) return;
    const queued = app.outbox.openFor(id);
    const now = predicted(incident, queued);
    const fresh = savedAt === null && !queued.some(isOpen);
    const mine = app.owns(incident.owner);
    const possible = mine ? (OWNER_ACTIONS[now] ?? []) : [];
    const actions = fresh ? possible.filter((a) => incident!.allowed_actions.includes(a)) : possible;
    const line = clockLine(clock, clockReadAt);
    ticks = [line.tick];
    const categoryName = h("span", {}, incident.category);
    void app.categoryName(incident.category).then((name) => (categoryName.textContent = name));

    const buttons = actions.map((action) =>
      h(
        "button",
        {
          type: "button",
          class: action === "return" || action === "refer_up" ? "button secondary" : "button",
          "aria-expanded": action === "sign" ? null : String(open === action),
          onclick: () => {
            if (action === "sign") {
              void enqueue([actionItem("sign", {})], "签收");
              return;
            }
            open = open === action ? null : action;
            draw();
            root.querySelector<HTMLElement>(".w-form textarea, .w-form input")?.focus();
          },
        },
        ACTION_NAMES[action],
      ),
    );

    replace(
      root,
      h("p", {}, h("a", { href: "/worker/" }, `‹ ${W.myCases}`)),
      h("h1", { class: "w-case-heading" }, incident.title),
      savedAt ? h("p", { class: "notice" }, `${W.offline}：显示${W.savedAt} ${formatTime(savedAt)} 的案件`) : null,
      h(
        "dl",
        { class: "w-facts" },
        h("dt", {}, "状态"),
        h(
          "dd",
          { "data-testid": "case-status", "data-status": now },
          STATUS_NAMES[now] ?? now,
          now !== incident.status ? h("span", { class: "w-queued" }, "（待同步）") : null,
        ),
        h("dt", {}, "亮灯"),
        h("dd", {}, line.element),
        h("dt", {}, "类别"),
        h("dd", {}, categoryName, incident.urgency !== "normal" ? ` · ${URGENCY_NAMES[incident.urgency] ?? ""}` : ""),
        h("dt", {}, "地点"),
        h("dd", {}, incident.address || (incident.location ? `${incident.location.lon.toFixed(5)}, ${incident.location.lat.toFixed(5)}` : "—"),
          incident.grid_code ? h("span", { class: "hint" }, `（网格 ${incident.grid_code}）`) : null),
        h("dt", {}, "受理时间"),
        h("dd", {}, formatTime(incident.received_at)),
        h("dt", {}, "承办"),
        h("dd", {}, incident.owner?.unit_name ?? incident.owner?.unit_id ?? "待派遣", mine ? "（本人/本网格）" : ""),
      ),
      incident.description ? h("p", { class: "w-description" }, incident.description) : null,
      flash,
      actions.length
        ? h("section", { class: "w-actions", "aria-label": "办理操作" }, h("div", { class: "w-buttons" }, ...buttons), open ? form(open) : null)
        : h("p", { class: "hint" }, mine ? "当前状态下没有您可办理的操作。" : "此案件不由您承办，仅供查看。"),
      queued.length
        ? h(
            "section",
            { class: "w-section", "aria-labelledby": "case-queue-title" },
            h("h2", { id: "case-queue-title" }, "本机待发送"),
            h(
              "ul",
              { class: "w-queue-list", "data-testid": "case-queue" },
              ...queued.map((q) =>
                h(
                  "li",
                  { class: `w-queue-item ${q.status}`, "data-status": q.status },
                  h("span", { class: "w-queue-state" }, QUEUE_STATUS_NAMES[q.status]),
                  ` ${q.label}`,
                  q.error ? h("span", { class: q.status === "failed" ? "error" : "hint" }, ` · ${q.error}`) : null,
                ),
              ),
            ),
          )
        : null,
      h("section", { class: "w-section", "aria-labelledby": "photos-title" }, h("h2", { id: "photos-title" }, "照片"), photos),
      h(
        "section",
        { class: "w-section", "aria-labelledby": "timeline-title" },
        h("h2", { id: "timeline-title" }, "办理过程"),
        h(
          "ol",
          { class: "w-timeline", "data-testid": "timeline" },
          ...[...incident.timeline].reverse().map((entry) =>
            h(
              "li",
              { "data-action": entry.action },
              h("span", { class: "w-when" }, formatTime(entry.at)),
              h("strong", {}, TIMELINE_NAMES[entry.action] ?? entry.action),
              entry.actor ? h("span", { class: "hint" }, ` ${entry.actor}`) : null,
              detailText(entry) ? h("span", { class: "w-detail" }, detailText(entry)) : null,
            ),
          ),
        ),
      ),
    );
    root.dataset.ready = "true";
  };

  await read();
  if (signal.aborted) return () => {};
  draw();
  void loadPhotos();

  let soon: number | undefined;
  const reload = () => {
    window.clearTimeout(soon);
    soon = window.setTimeout(async () => {
      await read();
      if (!signal.aborted) {
        draw();
        void loadPhotos();
      }
    }, 300);
  };
  const onSent = (event: Event) => {
    const item = (event as CustomEvent<OutboxItem>).detail;
    if (item.incident && "id" in item.incident && item.incident.id === id) reload();
  };
  const onChange = () => {
    if (incident && !open) draw(); // counts and states of queued items (a form being filled is left alone)
  };
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
