// What a light means and how it is shown. Colour is never the only signal (issue 16, item 6): every light has
// its own shape (octagon ×, triangle !, circle ✓, hollow circle —) and its words beside it, on the map, in
// the legend, in the lists and the feed.

import type { Light } from "../api/types";
import { h, svgIcon } from "../dom";

/** A grid's light: the worst of its open cases' running clocks; "none" when it has no open case. */
export type GridLight = Light | "none";

export const LIGHT_RANK: Record<GridLight, number> = { none: 0, green: 1, yellow: 2, red: 3 };

export interface LightLook {
  label: string;
  meaning: string;
  stroke: string;
  fill: string;
  fillOpacity: number;
  weight: number;
  dashArray?: string;
}

export const LIGHTS: Record<GridLight, LightLook> = {
  red: { label: "红灯", meaning: "已超时", stroke: "#a31515", fill: "#e53935", fillOpacity: 0.55, weight: 3 },
  yellow: {
    label: "黄灯",
    meaning: "临近时限",
    stroke: "#7a4f00",
    fill: "#fbc02d",
    fillOpacity: 0.5,
    weight: 2.5,
    dashArray: "6 3",
  },
  green: { label: "绿灯", meaning: "正常办理", stroke: "#1b5e20", fill: "#66bb6a", fillOpacity: 0.3, weight: 1.2 },
  none: { label: "无在办", meaning: "无在办案件", stroke: "#546e7a", fill: "#eceff1", fillOpacity: 0.15, weight: 1 },
};

export const LIGHTS_WORST_FIRST: GridLight[] = ["red", "yellow", "green", "none"];

export function worse(a: GridLight, b: GridLight): GridLight {
  return LIGHT_RANK[a] >= LIGHT_RANK[b] ? a : b;
}

const SHAPES: Record<GridLight, { d: string; fill?: string; stroke?: string }[]> = {
  red: [
    { d: "M5.2 1.5h5.6l3.7 3.7v5.6l-3.7 3.7H5.2L1.5 10.8V5.2z", fill: "#c62828" },
    { d: "M5.6 5.6l4.8 4.8M10.4 5.6l-4.8 4.8", stroke: "#ffffff" },
  ],
  yellow: [
    { d: "M8 1.4l6.9 12.4H1.1z", fill: "#f9a825", stroke: "#5d4037" },
    { d: "M8 5.6v4.2M8 11.9v.1", stroke: "#3e2723" },
  ],
  green: [
    { d: "M8 1.5a6.5 6.5 0 1 1 0 13a6.5 6.5 0 1 1 0-13z", fill: "#2e7d32" },
    { d: "M4.9 8.2l2.1 2.1l4.1-4.3", stroke: "#ffffff" },
  ],
  none: [
    { d: "M8 2.2a5.8 5.8 0 1 1 0 11.6a5.8 5.8 0 1 1 0-11.6z", fill: "#ffffff", stroke: "#546e7a" },
    { d: "M5.5 8h5", stroke: "#546e7a" },
  ],
};

export function lightIcon(light: GridLight): SVGSVGElement {
  return svgIcon(SHAPES[light], `icon light-icon light-icon-${light}`);
}

/** Shape and words: "⬣ 红灯 · 已超时" (the words carry it for screen readers; the shape is hidden from them). */
export function lightBadge(light: GridLight, withMeaning = true): HTMLElement {
  const look = LIGHTS[light];
  return h(
    "span",
    { class: `light-badge light-${light}`, "data-light": light },
    lightIcon(light),
    h("span", { class: "light-text" }, withMeaning ? `${look.label}·${look.meaning}` : look.label),
  );
}
