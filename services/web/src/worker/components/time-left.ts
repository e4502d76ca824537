// A case's light and the time left on its running clock (supervision's): working time where the limit runs in
// working time (the calendar's, what 按期 is judged by), natural time for an hours limit; counted down on the
// device from the moment it was read, while the clock is counting.

import { lightBadge } from "../../components/lights";
import { h } from "../../dom";
import { PHASE_NAMES } from "../../i18n";
import type { WorkerClock } from "../types";
import { duration } from "../words";

/** Seconds left now, from a clock read at `readAt` (ms). */
export function secondsLeft(clock: WorkerClock, readAt: number, now = Date.now()): number {
  const working = clock.counts_in !== "natural_time" && typeof clock.remaining_working_seconds === "number";
  const base = working ? clock.remaining_working_seconds! : clock.remaining_seconds;
  const counting = clock.counting ?? (clock.running && !clock.paused);
  return counting ? base - (now - readAt) / 1000 : base;
}

export function timeLeftText(clock: WorkerClock, readAt: number, now = Date.now()): string {
  const left = secondsLeft(clock, readAt, now);
  const phase = PHASE_NAMES[clock.phase] ?? clock.phase;
  const kind = clock.counts_in === "natural_time" || clock.remaining_working_seconds === undefined ? "" : "（工作时间）";
  if (clock.paused) return `${phase}·已暂停计时`;
  return left >= 0 ? `${phase}剩余 ${duration(left)}${kind}` : `${phase}已超时 ${duration(left)}${kind}`;
}

/** The light (shape and words) and the time left, updated by `tick()`. */
export function clockLine(clock: WorkerClock | undefined, readAt: number): { element: HTMLElement; tick: () => void } {
  if (!clock) {
    return { element: h("span", { class: "w-clock none" }, lightBadge("none", false), h("span", {}, "无计时")), tick: () => {} };
  }
  const text = h("span", { class: "w-time-left", "data-testid": "time-left" });
  const tick = () => {
    text.textContent = timeLeftText(clock, readAt);
  };
  tick();
  return {
    element: h("span", { class: "w-clock", "data-light": clock.light }, lightBadge(clock.light), text),
    tick,
  };
}
