// 待发送: the outbox as the worker sees it — how many writes wait, went through, failed; each one in queue order
// with what it is, its state, its attempts and why it failed. A failed one can be sent again (same key: if it did
// land after all, intake answers as the first time) or dropped.

import { h, replace } from "../../dom";
import { formatTime } from "../../i18n";
import type { OutboxItem } from "../outbox";
import type { WorkerPageContext } from "../router";
import { QUEUE_STATUS_NAMES, W } from "../words";

const KIND_NAMES: Record<string, string> = { report: "上报", action: "办理", upload: "照片" };
const STATE_NAMES: Record<string, string> = {
  idle: "队列空闲",
  sending: "正在发送…",
  waiting: "稍后自动重试",
  offline: "离线：联网后自动发送",
  signin: "登录已过期：重新登录后继续发送",
};

export default function queuePage(root: HTMLElement, { app }: WorkerPageContext): () => void {
  const summary = h("p", { class: "w-queue-summary", "data-testid": "queue-summary", role: "status" });
  const list = h("ol", { class: "w-queue-list", "data-testid": "queue-list", "aria-label": "队列中的操作" });
  const sendNow = h(
    "button",
    { type: "button", class: "button", onclick: () => void app.outbox.flush({ now: true }) },
    "立即发送",
  );
  const others = h("p", { class: "hint" });
  replace(
    root,
    h("div", { class: "w-head" }, h("h1", {}, W.queue), sendNow),
    h("p", { class: "hint" }, "上报、办理和照片先保存在本机，按顺序发送；每项带有唯一的幂等键，重发不会重复办理。"),
    summary,
    list,
    others,
  );

  const row = (item: OutboxItem): HTMLElement => {
    const controls: HTMLElement[] = [];
    const waitsFor = item.status === "failed" ? app.outbox.failedDependency(item) : null;
    if (item.status === "failed" && !waitsFor) {
      controls.push(
        h("button", { type: "button", class: "button secondary", onclick: () => void app.outbox.retry(item.localId) }, "重新发送"),
        h("button", { type: "button", class: "linkish", onclick: () => void app.outbox.discard(item.localId) }, "删除"),
      );
    }
    const caseId = item.kind === "report" ? item.result?.id : item.incident && "id" in item.incident ? item.incident.id : null;
    return h(
      "li",
      { class: `w-queue-item ${item.status}`, "data-status": item.status, "data-kind": item.kind, "data-local": item.localId },
      h(
        "div",
        { class: "w-queue-line" },
        h("span", { class: "w-queue-state" }, QUEUE_STATUS_NAMES[item.status]),
        h("strong", {}, item.kind === "upload" ? item.label : `${KIND_NAMES[item.kind]} · ${item.label}`),
      ),
      h(
        "div",
        { class: "hint" },
        item.kind === "report" ? "" : `案件：${item.caseTitle} · `,
        `保存于 ${formatTime(item.createdAt)}`,
        item.sentAt ? ` · 送达于 ${formatTime(item.sentAt)}` : "",
        item.attempts && item.status !== "failed" ? ` · 重发 ${item.attempts} 次` : "",
      ),
      item.error && item.status !== "sent" ? h("div", { class: item.status === "failed" ? "error" : "hint" }, item.error) : null,
      waitsFor ? h("div", { class: "hint" }, `随「${waitsFor.label}」一起重新发送或删除。`) : null,
      caseId ? h("a", { href: `/worker/cases/${caseId}` }, "查看案件") : null,
      controls.length ? h("div", { class: "w-buttons" }, ...controls) : null,
    );
  };

  const draw = () => {
    const mine = app.outbox.mine();
    const { pending, sent, failed } = app.outbox.counts();
    summary.dataset.pending = String(pending);
    summary.dataset.sent = String(sent);
    summary.dataset.failed = String(failed);
    replace(summary, `待发送 ${pending} 项 · 已送达 ${sent} 项 · 发送失败 ${failed} 项 · ${STATE_NAMES[app.outbox.state]}`);
    replace(list, ...(mine.length ? mine.map(row) : [h("li", { class: "w-empty" }, "队列为空。")]));
    const elsewhere = app.outbox.items.length - mine.length;
    replace(others, elsewhere ? `另有其他账号的 ${elsewhere} 项，待该账号登录后发送。` : "");
  };
  draw();
  app.outbox.addEventListener("change", draw);
  return () => app.outbox.removeEventListener("change", draw);
}
