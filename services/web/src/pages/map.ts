// The map of lights (issue 16): the grids of the caller's area from routing's GeoJSON export, each coloured by
// the worst light of its open cases (supervision's running clocks), kept live by the alert stream
// (notifications): an alert refreshes the lights at once (and a poll every 20 s), and the feed shows it.
// Only what the view needs is drawn (components/light-map.ts): a city or a district first as its communities, each
// filled by the worst light beneath it, and its grids once zoomed in. `/map?draw=all` draws every grid of the area
// at once, as the console first did (the baseline of bench/map_first_paint.py); `?grids_at_most=N` draws grids
// while the view holds at most N of them (default 1,500).

import "../styles/map.css";

import { ApiError } from "../api/client";
import { ALERT_STREAM_URL, type GeojsonParams, routing, supervision } from "../api/endpoints";
import { EventStream } from "../api/stream";
import type { Alert, AlertData, Clock, GridCollection, GridFeature, Light } from "../api/types";
import { AlertFeed } from "../components/alert-feed";
import { GridList } from "../components/grid-list";
import { legend } from "../components/legend";
import { type Box, type Drawn, type GridState, LEVEL_WORDS, LightMap } from "../components/light-map";
import { worse } from "../components/lights";
import { h, replace } from "../dom";
import { areaName, formatTime, T } from "../i18n";
import type { PageContext } from "../router";

/** Without alerts, the lights are read again this often anyway (a case closed stops its clock silently). */
const REFRESH_EVERY_MS = 20000;
/** Alerts come in bursts (a ticker pass lights many clocks): one refresh per burst. Every alert counts (a light,
 * a 督办, a new emergency case: each may change what the area's clocks show). */
const REFRESH_DEBOUNCE_MS = 150;

/** The districts, streets and communities first (each with its grid count): a few hundred outlines for a city. */
const AREAS: GeojsonParams = { level: ["district", "street", "community"], simplify: 0.00002, precision: 6 };
const GRIDS: GeojsonParams = { level: ["grid", "micro"], precision: 6 };

/** The caller's area as registry codes to export: its prefixes, or every district for the whole city. */
async function areaCodes(ctx: PageContext): Promise<string[]> {
  const codes = ctx.app.session!.claims.area;
  if (!codes.includes("")) return codes;
  return (await routing.grids(ctx.app.api, { level: "district", limit: 1000 })).map((row) => row.code);
}

/** Each code's export (404: not in the registry, or not the caller's: left out and named in `missing`). */
async function exports(ctx: PageContext, codes: string[], params: GeojsonParams): Promise<{
  collections: GridCollection[];
  missing: string[];
}> {
  const missing: string[] = [];
  const collections = await Promise.all(
    codes.map((code) =>
      routing.geojson(ctx.app.api, code, ctx.signal, params).catch((error) => {
        if (error instanceof ApiError && error.status === 404) {
          missing.push(code);
          return null;
        }
        throw error;
      }),
    ),
  );
  return { collections: collections.filter((c): c is GridCollection => c !== null), missing };
}

/** What the map shows, in words (the fill of an area is the worst light of the grids beneath it). */
function viewNote(drawn: Drawn): string {
  if (drawn.view === "grid") return `地图显示 ${drawn.shapes} 个网格。`;
  const level = LEVEL_WORDS[drawn.level] ?? drawn.level;
  return `网格较多：地图按${level}显示（${drawn.shapes} 个，每个${level}取其网格中最严重的灯色），放大或点击${level}即显示网格。`;
}

/** Each grid's light: the worst light of the running clocks placed in it, with the count of each light. */
function gridStates(clocks: Clock[]): {
  states: Map<string, GridState>;
  unplaced: number;
} {
  const states = new Map<string, GridState>();
  const seen = new Set<string>();
  let unplaced = 0;
  for (const clock of clocks) {
    const key = `${clock.incident_id}/${clock.phase}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const grid = clock.grid_code;
    if (!grid) {
      unplaced += 1;
      continue;
    }
    const state = states.get(grid) ?? { light: "none", counts: { red: 0, yellow: 0, green: 0 } };
    state.light = worse(state.light, clock.light);
    state.counts[clock.light] += 1;
    states.set(grid, state);
  }
  return { states, unplaced };
}

export default async function mapPage(root: HTMLElement, ctx: PageContext): Promise<() => void> {
  const { app, signal } = ctx;
  const session = app.session!;
  const summary = h("p", { class: "summary", role: "status", "data-testid": "map-summary" }, T.loading);
  const refreshButton = h("button", { type: "button", class: "button secondary" }, "刷新");
  const mapElement = h("div", { class: "light-map", role: "region", "data-testid": "light-map" });
  const note = h("p", { class: "view-note hint", "data-testid": "map-view" });
  const drawAll = ctx.query.get("draw") === "all";
  const gridsAtMost = Number(ctx.query.get("grids_at_most")) || undefined; // e.g. ?grids_at_most=300 on a slow machine
  const categories = new Map<string, string>();
  let lightMap: LightMap | null = null;
  // What the first paint needs, asked for at once (the requests run while Leaflet sets up the map): the area's
  // codes and their districts, streets and communities (everything with ?draw=all), and the running clocks.
  const readClocks = (): Promise<Clock[][]> =>
    Promise.all(
      (["red", "yellow", "green"] as Light[]).map((light) => supervision.clocks(app.api, { light, limit: 1000 }, signal)),
    );
  const first = areaCodes(ctx).then(async (codes) => ({ codes, ...(await exports(ctx, codes, drawAll ? {} : AREAS)) }));
  let firstClocks: Promise<Clock[][]> | null = readClocks();
  first.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
  firstClocks.catch(() => undefined);

  const feed = new AlertFeed({
    grid: (code) => lightMap?.nameOf(code) ?? null,
    category: (code) => (code ? categories.get(code) : undefined),
  });
  const list = new GridList(
    (code) => lightMap?.nameOf(code) ?? null,
    (code) => void lightMap?.focus(code),
  );
  replace(
    root,
    h(
      "div",
      { class: "map-page" },
      h(
        "div",
        { class: "page-head" },
        h("h1", {}, T.mapTitle),
        h("p", { class: "area" }, `${T.area}：${areaName(session.claims.area)}`),
        summary,
        refreshButton,
        note,
      ),
      h(
        "div",
        { class: "map-body" },
        h("div", { class: "map-wrap" }, mapElement),
        h("aside", { class: "side", "aria-label": "图例、亮灯网格与实时告警" }, legend(), list.element, feed.element),
      ),
    ),
  );
  lightMap = new LightMap(mapElement, {
    config: app.config,
    label: `${T.mapTitle}：${areaName(session.claims.area)}`,
    loadGrids: async (codes: string[], box: Box | null, simplify: number): Promise<GridFeature[]> => {
      const bbox = box ? box.map((n) => n.toFixed(6)).join(",") : undefined;
      const { collections } = await exports(ctx, codes, { ...GRIDS, bbox, simplify: simplify || undefined });
      return collections.flatMap((c) => c.features);
    },
    onDraw: (drawn) => replace(note, viewNote(drawn)),
    svgAtMost: drawAll ? 3000 : undefined, // the full draw as it was: SVG up to 3,000 grids
    gridsAtMost: gridsAtMost && gridsAtMost > 0 ? gridsAtMost : undefined,
  });
  let lastStates = new Map<string, GridState>();
  void app.categoryNames().then((names) => names.forEach((name, code) => categories.set(code, name)));

  // ---- lights: read the running clocks, worst first (red, yellow, green: up to 1000 of each)
  let inFlight: Promise<void> | null = null;
  let again = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const readLights = async (): Promise<void> => {
    const lists = await (firstClocks ?? readClocks());
    firstClocks = null;
    if (!lightMap || signal.aborted) return;
    const { states, unplaced } = gridStates(lists.flat());
    lightMap.setStates(states);
    list.update(states);
    lastStates = states;
    const litRed = [...states.values()].filter((s) => s.light === "red").length;
    const litYellow = [...states.values()].filter((s) => s.light === "yellow").length;
    const open = lists.reduce((n, l) => n + l.length, 0);
    const capped = lists.some((l) => l.length >= 1000) ? "≥" : "";
    replace(
      summary,
      `${lightMap.gridCount} 个网格 · 红灯网格 ${litRed} · 黄灯网格 ${litYellow} · ${T.openCases} ${capped}${open}` +
        (unplaced ? `（${unplaced} 件未落到网格）` : "") +
        ` · ${T.lastUpdated} ${formatTime(new Date())}`,
    );
    summary.dataset.red = String(litRed);
    summary.dataset.yellow = String(litYellow);
  };
  const refresh = (): Promise<void> => {
    if (inFlight) {
      again = true;
      return inFlight;
    }
    inFlight = readLights()
      .catch((error) => {
        if (!signal.aborted) replace(summary, `${T.loadFailed}：${error instanceof Error ? error.message : error}`);
      })
      .finally(() => {
        inFlight = null;
        if (again && !signal.aborted) {
          again = false;
          void refresh();
        }
      });
    return inFlight;
  };
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(() => void refresh(), REFRESH_DEBOUNCE_MS);
  };
  refreshButton.addEventListener("click", () => void refresh());

  // ---- the live stream (fetch-based SSE with the Authorization header; resumes with Last-Event-ID)
  const stream = new EventStream({
    url: ALERT_STREAM_URL,
    headers: () => app.api.authHeaders(),
    lastEventId: null, // the page opens on the area's alerts so far; a reconnect resumes after the last one seen
    onUnauthorized: () => app.signOut(T.sessionExpired),
    onState: (state) => {
      feed.setState(state);
      if (state === "open") soon(); // after a gap, read the lights again
    },
    onMessage: (message) => {
      let data: AlertData;
      try {
        data = JSON.parse(message.data) as AlertData;
      } catch {
        return;
      }
      const alert: Alert = { id: message.id, event: message.event, data };
      feed.add(alert);
      soon();
    },
  });

  // ---- first paint: what the view needs of the area's grids (all of them with ?draw=all), then their lights
  try {
    const { codes, collections, missing } = await first;
    if (signal.aborted) return () => undefined;
    const found = codes.filter((code) => !missing.includes(code));
    const drawn = drawAll ? await lightMap.showAll(collections) : await lightMap.start(found, collections);
    if (signal.aborted || !lightMap) return () => undefined;
    performance.mark("grids-drawn", { detail: drawn });
    if (missing.length) {
      root.querySelector(".page-head")?.append(h("p", { class: "notice" }, `未找到辖区 ${missing.join("、")} 的网格边界。`));
    }
    await refresh();
    performance.mark("lights-drawn");
    if (lightMap && !lightMap.hasEveryGrid) {
      // Names of the grids not drawn yet, for the list beside the map and the feed (after the lights).
      void routing
        .grids(app.api, { level: "grid", limit: 20000 })
        .then((rows) => {
          lightMap?.addNames(rows);
          list.update(lastStates);
        })
        .catch(() => undefined);
    }
    mapElement.dataset.ready = "true";
  } catch (error) {
    replace(summary, `${T.loadFailed}：${error instanceof Error ? error.message : String(error)}`);
  }
  stream.start();
  const every = setInterval(() => void refresh(), REFRESH_EVERY_MS);

  return () => {
    stream.stop();
    clearInterval(every);
    clearTimeout(timer);
    lightMap?.destroy();
    lightMap = null;
  };
}
