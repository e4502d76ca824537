// The live alert feed: the newest alert first, each with its kind's shape and words, the grid, the phase, the
// category and the time; a status line says whether the stream is connected.

import type { Alert } from "../api/types";
import type { StreamState } from "../api/stream";
import { h, replace, svgIcon } from "../dom";
import { EVENT_NAMES, formatTime, LEVEL_NAMES, PHASE_NAMES, T, URGENCY_NAMES } from "../i18n";
import { lightBadge } from "./lights";

const KEEP = 200;

const STATE_TEXT: Record<StreamState, string> = {
  connecting: T.streamConnecting,
  open: T.streamOpen,
  reconnecting: T.streamReconnecting,
  forbidden: T.streamForbidden,
  closed: T.streamClosed,
};

export interface FeedNames {
  grid: (code: string | null) => string | null;
  category: (code: string | undefined) => string | undefined;
}

function escalationBadge(level: string): HTMLElement {
  return h(
    "span",
    { class: `event-badge level-${level}` },
    svgIcon([{ d: "M3 14V2M3 2.5h9l-2 3l2 3H3", stroke: "currentColor" }]),
    h("span", {}, LEVEL_NAMES[level] ?? level),
  );
}

function eventBadge(event: string): HTMLElement {
  return h(
    "span",
    { class: "event-badge" },
    svgIcon([{ d: "M8 1.8l6.2 11.4H1.8zM8 6v3.4M8 11.2v.1", stroke: "currentColor" }]),
    h("span", {}, EVENT_NAMES[event] ?? event),
  );
}

export class AlertFeed {
  readonly element: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly status: HTMLElement;
  private readonly empty: HTMLElement;
  private count = 0;

  constructor(private readonly names: FeedNames) {
    const id = "alert-feed-title";
    this.status = h("p", { class: "stream-status", role: "status", "data-state": "connecting" }, T.streamConnecting);
    this.list = h("ol", { class: "feed", "aria-live": "polite", "aria-relevant": "additions", "aria-labelledby": id });
    this.empty = h("p", { class: "hint feed-empty" }, T.noAlerts);
    this.element = h(
      "section",
      { class: "panel alert-feed", "aria-labelledby": id },
      h("h2", { id }, T.alertFeed),
      this.status,
      this.empty,
      this.list,
    );
  }

  setState(state: StreamState): void {
    this.status.dataset.state = state;
    replace(this.status, STATE_TEXT[state]);
  }

  add(alert: Alert): void {
    const { event, data } = alert;
    const grid = this.names.grid(data.grid_code) ?? data.grid_code ?? "未定位";
    let badge: HTMLElement;
    let what: string;
    if (event === "supervision.light.changed" && data.light) {
      badge = lightBadge(data.light, false);
      what = `${PHASE_NAMES[data.phase ?? ""] ?? ""}亮${data.light === "red" ? "红灯" : data.light === "yellow" ? "黄灯" : "绿灯"}`;
    } else if (event === "supervision.escalation.raised" && data.level) {
      badge = escalationBadge(data.level);
      what = `${data.manual ? "人工" : "自动"}${LEVEL_NAMES[data.level] ?? data.level}`;
    } else {
      badge = eventBadge(event);
      what = EVENT_NAMES[event] ?? event;
    }
    const details = [
      data.phase ? `${PHASE_NAMES[data.phase] ?? data.phase}阶段` : null,
      this.names.category(data.category) ?? data.category,
      data.urgency ? URGENCY_NAMES[data.urgency] ?? data.urgency : null,
      data.incident_id ? `案件 ${data.incident_id.slice(0, 8)}` : null,
    ].filter(Boolean);
    const item = h(
      "li",
      {
        class: "feed-item",
        "data-event": event,
        "data-incident": data.incident_id,
        "data-grid": data.grid_code ?? "",
        "data-light": data.light ?? "",
        "data-alert-id": alert.id ?? "",
      },
      badge,
      h(
        "div",
        { class: "feed-body" },
        h("p", { class: "feed-title" }, h("strong", {}, grid), ` ${what}`),
        h("p", { class: "feed-detail" }, details.join(" · ")),
        data.note ? h("p", { class: "feed-note" }, `批示：${data.note}`) : null,
      ),
      h("time", { datetime: String(data.at ?? ""), class: "feed-time" }, formatTime(data.at)),
    );
    this.list.prepend(item);
    this.count += 1;
    this.empty.hidden = true;
    while (this.list.childElementCount > KEEP) this.list.lastElementChild?.remove();
  }

  get size(): number {
    return this.count;
  }
}
