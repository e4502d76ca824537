// The lit grids as a list beside the map (worst first): the same facts as the map's colours, in words, for
// keyboards and screen readers; choosing one shows it on the map.

import { h, replace } from "../dom";
import { T } from "../i18n";
import { LIGHT_RANK, lightBadge } from "./lights";
import type { GridState } from "./light-map";

const SHOW = 100;

export class GridList {
  readonly element: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly empty: HTMLElement;

  constructor(
    private readonly nameOf: (code: string) => string | null,
    private readonly onChoose: (code: string) => void,
  ) {
    const id = "lit-grids-title";
    this.list = h("ul", { class: "lit-grids", "aria-labelledby": id });
    this.empty = h("p", { class: "hint" }, T.noLitGrids);
    this.element = h("section", { class: "panel", "aria-labelledby": id }, h("h2", { id }, T.litGrids), this.empty, this.list);
  }

  update(states: Map<string, GridState>): void {
    const lit = [...states.entries()]
      .filter(([, state]) => state.light === "red" || state.light === "yellow")
      .sort(([a, x], [b, y]) => LIGHT_RANK[y.light] - LIGHT_RANK[x.light] || y.counts.red - x.counts.red || a.localeCompare(b));
    this.empty.hidden = lit.length > 0;
    replace(
      this.list,
      ...lit.slice(0, SHOW).map(([code, state]) =>
        h(
          "li",
          { "data-grid-code": code, "data-light": state.light },
          h(
            "button",
            { type: "button", class: "linkish", onclick: () => this.onChoose(code), title: "在地图上显示" },
            lightBadge(state.light, false),
            h("span", { class: "grid-name" }, this.nameOf(code) ?? code),
          ),
          h(
            "span",
            { class: "grid-counts" },
            `红 ${state.counts.red} · 黄 ${state.counts.yellow} · 绿 ${state.counts.green}`,
          ),
        ),
      ),
      lit.length > SHOW ? h("li", { class: "hint" }, `另有 ${lit.length - SHOW} 个亮灯网格`) : null,
    );
  }
}
