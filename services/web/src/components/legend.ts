import { h } from "../dom";
import { T } from "../i18n";
import { LIGHTS, LIGHTS_WORST_FIRST, lightIcon } from "./lights";

/** The map's key: each light's shape, name and meaning, and how the map draws it. */
export function legend(): HTMLElement {
  const id = "legend-title";
  return h(
    "section",
    { class: "panel legend", "aria-labelledby": id },
    h("h2", { id }, T.legend),
    h(
      "ul",
      { class: "legend-list" },
      ...LIGHTS_WORST_FIRST.map((light) =>
        h(
          "li",
          { "data-light": light },
          h("span", {
            class: `legend-swatch swatch-${light}`,
            "aria-hidden": "true",
          }),
          lightIcon(light),
          h("span", { class: "legend-label" }, LIGHTS[light].label),
          h("span", { class: "legend-meaning" }, LIGHTS[light].meaning),
        ),
      ),
    ),
    h("p", { class: "hint" }, "网格按其在办案件中最严重的灯色显示；黄灯、红灯网格在地图上另有图形和文字标注。"),
    h("p", { class: "hint" }, "网格较多时地图按社区显示：社区取其网格中最严重的灯色，标注该灯色的图形和案件数；放大即显示网格。"),
  );
}
