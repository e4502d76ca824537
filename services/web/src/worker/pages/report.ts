// 上报事件: a new incident where the grid worker stands — the phone's position (navigator.geolocation), moved on a
// small map by dragging the pin or by its longitude and latitude; the grid it lies in (routing's /v1/locate, or
// offline my grids' outlines kept on the device): a grid worker reports inside its own grids, naming the grid;
// the category (intake's list), urgency, title, description and photos. The report and its photos go to the
// outbox together: the photos are uploaded to the case once the report has made it (its id known).

import { ApiError } from "../../api/client";
import type { GridCollection, GridProperties } from "../../api/types";
import { h, replace } from "../../dom";
import { URGENCY_NAMES } from "../../i18n";
import { routing } from "../api";
import { photoPicker } from "../components/photos";
import { centreOf, gridAt } from "../geo";
import { type NewItem, newKey } from "../outbox";
import type { WorkerPageContext } from "../router";
import { W } from "../words";

const DEFAULT_PLACE = { lon: 120.62, lat: 31.31 };

function field(id: string, label: string, control: HTMLElement, hint?: HTMLElement | string): HTMLElement {
  const hintId = `${id}-hint`;
  if (hint) control.setAttribute("aria-describedby", hintId);
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    hint ? (typeof hint === "string" ? h("p", { class: "hint", id: hintId }, hint) : Object.assign(hint, { id: hintId })) : null,
  );
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

export default async function reportPage(root: HTMLElement, ctx: WorkerPageContext): Promise<() => void> {
  const { app, signal } = ctx;
  const area = app.session!.claims.area;
  const [categories, mine] = await Promise.all([app.categories(), app.myGrids()]);
  if (signal.aborted) return () => {};
  const grids: GridProperties[] = mine?.grids ?? [];
  const outlines: GridCollection | null = mine?.outlines ?? null;

  const category = h(
    "select",
    { id: "report-category", required: true },
    h("option", { value: "" }, categories.length ? "请选择" : "类别列表不可用（需联网加载一次）"),
    ...categories.map((c) => h("option", { value: c.code }, c.name_zh)),
  );
  const urgency = h(
    "select",
    { id: "report-urgency" },
    ...["normal", "urgent", "emergency"].map((u) => h("option", { value: u }, URGENCY_NAMES[u])),
  );
  const title = h("input", { id: "report-title", required: true, maxlength: 200, autocomplete: "off" });
  const description = h("textarea", { id: "report-description", rows: 4, maxlength: 4000 });
  const address = h("input", { id: "report-address", maxlength: 500, autocomplete: "street-address" });
  const lon = h("input", { id: "report-lon", type: "number", step: "any", min: 73, max: 135.5, required: true, inputmode: "decimal" });
  const lat = h("input", { id: "report-lat", type: "number", step: "any", min: 3, max: 54, required: true, inputmode: "decimal" });
  const grid = h(
    "select",
    { id: "report-grid", required: true },
    ...(grids.length
      ? grids.map((g) => h("option", { value: g.code }, `${g.name}（${g.code}）`))
      : area.filter((code) => /^\d{15}(\d{3})?$/.test(code)).map((code) => h("option", { value: code }, code))),
  );
  const gridHint = h("p", { class: "hint", role: "status" });
  const fix = h("p", { class: "hint", role: "status", "data-testid": "fix-status" }, "正在获取手机定位…");
  const relocate = h("button", { type: "button", class: "button secondary" }, "重新定位");
  const mapBox = h("div", { class: "w-map", "data-testid": "report-map" });
  const photos = photoPicker("report-photos");
  const error = h("p", { class: "error", role: "alert" });
  const flash = h("p", { class: "w-flash", role: "status", "aria-live": "polite" });
  let outside = false;

  const formEl = h(
    "form",
    { class: "w-report", "aria-labelledby": "report-title-h", novalidate: true },
    field("report-category", "事件类别", category),
    field("report-urgency", "紧急程度", urgency),
    field("report-title", "标题", title, "一句话说明发生了什么，例如“小区门口垃圾堆积”。"),
    field("report-description", "详细描述", description),
    h(
      "fieldset",
      { class: "w-fieldset" },
      h("legend", {}, "事发位置"),
      h("div", { class: "w-fix" }, fix, relocate),
      mapBox,
      h("div", { class: "w-coords" }, field("report-lon", "经度", lon), field("report-lat", "纬度", lat)),
      field("report-grid", "所属网格", grid, gridHint),
      field("report-address", "地址（可选）", address),
    ),
    photos.element,
    h("button", { type: "submit", class: "button w-wide" }, "提交上报"),
    error,
  );
  replace(root, h("h1", { id: "report-title-h" }, W.report), flash, formEl);

  // ---- the place: the phone's fix, the pin, the fields, the grid
  const start = centreOf(outlines ?? { type: "FeatureCollection", features: [] }) ?? DEFAULT_PLACE;
  lon.value = String(round(start.lon));
  lat.value = String(round(start.lat));
  const { LocationMap } = await import("../components/location-map");
  if (signal.aborted) return () => {};
  const map = new LocationMap(mapBox, app.config, start, (x, y) => {
    lon.value = String(round(x));
    lat.value = String(round(y));
    void placeChanged();
  });
  if (outlines) map.setOutlines(outlines);

  let asked = 0;
  const placeChanged = async () => {
    const ask = ++asked;
    const x = Number(lon.value);
    const y = Number(lat.value);
    if (!Number.isFinite(x) || !Number.isFinite(y)) return;
    outside = false;
    formEl.dataset.located = "pending";
    const local = outlines ? gridAt(outlines, x, y) : null;
    let found: { code: string; name: string } | null = local;
    let how = "本机网格边界";
    if (navigator.onLine) {
      try {
        const located = await routing.locate(app.api, x, y, signal);
        found = located.grid;
        how = "网格定位服务";
      } catch (failure) {
        if (failure instanceof ApiError && failure.status === 404) found = null;
        // else: unreachable; keep what the outlines say
      }
    }
    if (ask !== asked || signal.aborted) return;
    const ours = found && grids.some((g) => g.code === found!.code || found!.code.startsWith(g.code));
    if (found && ours) {
      grid.value = grids.find((g) => found!.code.startsWith(g.code))?.code ?? found.code;
      replace(gridHint, `位置位于 ${found.name}（${how}）`);
    } else if (found) {
      outside = true;
      replace(gridHint, `位置位于 ${found.name}，不在您的网格内：请把标记移到您的网格内，或请该网格的网格员上报。`);
    } else if (outlines || navigator.onLine) {
      outside = true;
      replace(gridHint, "位置不在您的网格内：请把标记移到您的网格内。");
    } else {
      replace(gridHint, "离线且无本机网格边界：请确认所属网格。");
    }
    formEl.dataset.located = outside ? "outside" : "inside";
    formEl.dataset.grid = grid.value;
  };
  const fieldsChanged = () => {
    const x = Number(lon.value);
    const y = Number(lat.value);
    if (Number.isFinite(x) && Number.isFinite(y)) map.moveTo(x, y);
    void placeChanged();
  };
  lon.addEventListener("change", fieldsChanged);
  lat.addEventListener("change", fieldsChanged);

  const locate = () => {
    if (!("geolocation" in navigator)) {
      replace(fix, "此设备不提供定位：请在地图上选择位置。");
      void placeChanged();
      return;
    }
    replace(fix, "正在获取手机定位…");
    fix.dataset.state = "pending";
    navigator.geolocation.getCurrentPosition(
      (position) => {
        if (signal.aborted) return;
        const { longitude, latitude, accuracy } = position.coords;
        lon.value = String(round(longitude));
        lat.value = String(round(latitude));
        map.moveTo(longitude, latitude);
        replace(fix, `已定位（精度约 ${Math.round(accuracy)} 米），可拖动标记调整。`);
        fix.dataset.state = "fixed";
        void placeChanged();
      },
      (failure) => {
        if (signal.aborted) return;
        replace(fix, failure.code === failure.PERMISSION_DENIED ? "未获定位授权：请在地图上选择位置。" : "暂时无法定位：请在地图上选择位置。");
        fix.dataset.state = "failed";
        void placeChanged();
      },
      { enableHighAccuracy: true, timeout: 15_000, maximumAge: 60_000 },
    );
  };
  relocate.addEventListener("click", locate);
  locate();
  requestAnimationFrame(() => map.invalidate());

  // ---- sending (to the outbox)
  formEl.addEventListener("submit", async (event) => {
    event.preventDefault();
    replace(error);
    const x = Number(lon.value);
    const y = Number(lat.value);
    const missing = [
      !category.value && "事件类别",
      !title.value.trim() && "标题",
      !(Number.isFinite(x) && Number.isFinite(y) && lon.value && lat.value) && "位置",
      !grid.value && "所属网格",
    ].filter(Boolean);
    if (missing.length) {
      replace(error, `请填写：${missing.join("、")}`);
      return;
    }
    if (outside) {
      replace(error, "事发位置不在您的网格内，无法以您的网格上报。");
      return;
    }
    const reportId = newKey();
    const files = photos.files();
    const text = title.value.trim();
    const body: Record<string, unknown> = {
      source: "gridworker",
      category: category.value,
      urgency: urgency.value,
      title: text,
      description: description.value.trim(),
      location: { lon: round(x), lat: round(y) },
      grid_code: grid.value,
      reported_at: new Date().toISOString(), // when it was seen, not when the network let it through
    };
    if (address.value.trim()) body.address = address.value.trim();
    const items: NewItem[] = [
      { kind: "report", localId: reportId, label: text, caseTitle: text, body },
      ...files.map(
        (file, n): NewItem => ({
          kind: "upload",
          label: `照片 ${n + 1}/${files.length}`,
          caseTitle: text,
          incident: { ref: reportId },
          file,
          filename: file.name || `photo-${n + 1}.jpg`,
        }),
      ),
    ];
    try {
      await app.outbox.enqueue(items);
    } catch (failure) {
      replace(error, `未能保存：${failure instanceof Error ? failure.message : String(failure)}`);
      return;
    }
    replace(
      flash,
      navigator.onLine ? `已提交“${text}”，正在发送。` : `已保存“${text}”，联网后自动发送。`,
      " ",
      h("a", { href: "/worker/queue" }, "查看待发送"),
    );
    title.value = "";
    description.value = "";
    address.value = "";
    photos.clear();
    flash.focus?.();
  });

  return () => map.remove();
}
