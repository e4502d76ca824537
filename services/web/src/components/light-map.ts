// The map of lights: routing's grid polygons (GeoJSON export), each grid filled by its light, with a shape-and-
// words marker on every yellow and red grid. Leaflet and its CSS and images are bundled: no request leaves the
// console's origin unless a base-map tile URL is configured.
//
// Only what the view needs is drawn (issue 16, item 6: a 15,000-grid city paints in well under 2 s). The area's
// districts, streets and communities come first (a few hundred outlines, each saying how many grids it holds);
// while the view holds more grids than GRIDS_IN_VIEW_AT_MOST, the finest of them (communities, as a rule) are
// filled with the worst light of the grids beneath them. Zoomed in, the grids of the view are loaded by bounding box
// (again after a move, debounced) and drawn instead. An area of at most ALL_GRIDS_AT_MOST grids (a community, a
// street) loads all its grids at once and never reloads. Many shapes go on one canvas; a few are SVG paths, each an
// element with its grid's code and light.

import "leaflet/dist/leaflet.css";

import L from "leaflet";

import type { GridCollection, GridFeature, GridProperties } from "../api/types";
import type { WebConfig } from "../config";
import { h } from "../dom";
import { type GridLight, LIGHTS, lightIcon } from "./lights";

/** An area of at most this many grids loads them all at once (no reload on moving the map). */
export const ALL_GRIDS_AT_MOST = 1500;
/** The view shows grids while it holds at most this many (else the finest area level, filled by its grids' light). */
export const GRIDS_IN_VIEW_AT_MOST = 1500;
/** Past this many shapes a layer is drawn on one canvas instead of one SVG element each. */
const SVG_AT_MOST = 400;
/** After the map moves, wait this long for it to settle before loading the grids of the new view. */
const MOVE_DEBOUNCE_MS = 250;
/** The grids loaded around the view: this share of its size on each side, so small moves need no request. */
const VIEW_PADDING = 0.25;
const FILLED_LEVELS = new Set(["grid", "micro"]);
export const LEVEL_WORDS: Record<string, string> = { district: "区县", street: "街道", community: "社区", grid: "网格" };

const collection = (features: GridFeature[]): GridCollection => ({ type: "FeatureCollection", features });
/** After the browser has painted the frame in which the shapes were drawn (Leaflet's canvas draws on a frame). */
const painted = (): Promise<void> => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));

/** west, south, east, north in degrees. */
export type Box = [number, number, number, number];
export type MapView = "grid" | "area";

export interface GridState {
  light: GridLight;
  counts: Record<"red" | "yellow" | "green", number>;
}

export interface Drawn {
  view: MapView;
  /** The level drawn filled: "grid", or the area level ("community", as a rule). */
  level: string;
  shapes: number;
}

export interface LightMapOptions {
  config: WebConfig;
  label: string;
  /** The grids (grid and micro level) of these areas touching `box` (null: all of them), outlines simplified by
   * `simplify` degrees. */
  loadGrids?: (codes: string[], box: Box | null, simplify: number) => Promise<GridFeature[]>;
  /** Told whenever the map switches between grids and areas (and how many it draws). */
  onDraw?: (drawn: Drawn) => void;
  /** Draw SVG paths up to this many shapes in a layer, a canvas past it. */
  svgAtMost?: number;
  /** Grids drawn while the view holds at most this many (and all at once for an area of at most this many);
   * default GRIDS_IN_VIEW_AT_MOST. */
  gridsAtMost?: number;
}

interface Shape {
  feature: GridFeature;
  layer: L.Path;
}

interface Area {
  feature: GridFeature;
  bounds: L.LatLngBounds;
  grids: number;
}

export class LightMap {
  readonly map: L.Map;
  /** The drawn grids (those of the loaded box, or all of a small area). */
  private readonly grids = new Map<string, Shape>();
  /** The area's districts, streets and communities; the leaves (no finer area below them) can be filled. */
  private readonly areas = new Map<string, Area>();
  private readonly leaves = new Map<string, Shape>();
  private readonly names = new Map<string, string>();
  private readonly markers = new Map<string, L.Marker>();
  private readonly markerLayer = L.layerGroup();
  private gridLayer: L.GeoJSON | null = null;
  private leafLayer: L.GeoJSON | null = null;
  private outlineLayer: L.GeoJSON | null = null;
  /** The caller's area codes (districts, for the whole city), each asked for its grids. */
  private areaCodes: string[] = [];
  /** The running clocks' states, summed up to every registry level above each clock's code (a community's: all
   * its grids'). */
  private rollup = new Map<string, GridState>();
  private view: MapView = "grid";
  /** Every grid of the area is drawn: nothing to load on moving. */
  private complete = false;
  private loadedBox: L.LatLngBounds | null = null;
  private loadedZoom = 0;
  private generation = 0;
  private moveTimer: ReturnType<typeof setTimeout> | undefined;
  private pendingFocus: string | null = null;
  private totalGrids = 0;
  private lastDrawn = "";
  private readonly svgAtMost: number;
  private readonly allAtMost: number;
  private readonly inViewAtMost: number;

  constructor(
    container: HTMLElement,
    private readonly options: LightMapOptions,
  ) {
    container.setAttribute("aria-label", options.label);
    this.svgAtMost = options.svgAtMost ?? SVG_AT_MOST;
    this.allAtMost = options.gridsAtMost ?? ALL_GRIDS_AT_MOST;
    this.inViewAtMost = options.gridsAtMost ?? GRIDS_IN_VIEW_AT_MOST;
    this.map = L.map(container, {
      zoomControl: false,
      attributionControl: true,
      preferCanvas: false,
      zoomSnap: 0.25,
      minZoom: 3,
      maxZoom: 19,
    });
    // Fills under outlines, whichever renderer each layer gets (SVG and canvas would otherwise stack by age).
    this.map.createPane("light-fills").style.zIndex = "410";
    this.map.createPane("light-outlines").style.zIndex = "420";
    L.control.zoom({ zoomInTitle: "放大", zoomOutTitle: "缩小", position: "topleft" }).addTo(this.map);
    this.map.attributionControl.setPrefix('<a href="https://leafletjs.com" rel="noopener">Leaflet</a>');
    const { tileUrl, tileAttribution, tileSubdomains } = options.config;
    if (tileUrl) {
      L.tileLayer(tileUrl, {
        attribution: tileAttribution,
        subdomains: tileSubdomains || "abc",
        maxZoom: 19,
        crossOrigin: true,
      }).addTo(this.map);
    } else {
      container.classList.add("no-basemap"); // outlines on a plain background
    }
    this.markerLayer.addTo(this.map);
    this.map.setView([31.3, 120.6], 12, { animate: false }); // until the grids arrive
  }

  /** Draw the caller's area: `codes` its registry codes (those found), `areas` their districts, streets and
   * communities (with their grid counts). A small area gets all its grids at once; a large one what the view
   * needs, again whenever the map moves. Resolves once the first view is painted. */
  async start(codes: string[], areas: GridCollection[]): Promise<Drawn> {
    this.areaCodes = codes;
    this.setAreas(areas.flatMap((c) => c.features));
    this.fit();
    const leaves = [...this.leaves.keys()];
    this.totalGrids = leaves.reduce((n, code) => n + (this.areas.get(code)?.grids ?? 0), 0);
    if (!this.options.loadGrids) throw new Error("LightMap.start needs loadGrids");
    if (leaves.length === 0 || this.totalGrids <= this.allAtMost) {
      this.setGrids(await this.options.loadGrids(codes, null, 0));
      this.complete = true;
      if (!this.areas.size) this.fit();
      this.show("grid");
      await this.drawnMark();
    } else {
      await this.update();
    }
    this.map.on("moveend", this.moved);
    return this.drawn;
  }

  /** The full draw (the baseline `/map?draw=all`): every grid and area of these collections, as they come. */
  async showAll(collections: GridCollection[]): Promise<Drawn> {
    const features = collections.flatMap((c) => c.features);
    const grids = features.filter((f) => FILLED_LEVELS.has(f.properties.level));
    // As it was: the outlines on the grids' renderer (one canvas for both past svgAtMost grids).
    this.setAreas(features.filter((f) => !FILLED_LEVELS.has(f.properties.level)), false, grids.length);
    this.setGrids(grids);
    this.complete = true;
    this.totalGrids = this.grids.size;
    this.fit();
    this.show("grid");
    await painted();
    return this.drawn;
  }

  /** What the map draws now. */
  get drawn(): Drawn {
    if (this.view === "grid") return { view: "grid", level: "grid", shapes: this.grids.size };
    const level = this.leaves.values().next().value?.feature.properties.level ?? "community";
    return { view: "area", level, shapes: this.leaves.size };
  }

  /** The grids in the caller's area (all drawn, or counted by their communities). */
  get gridCount(): number {
    return this.complete ? this.grids.size : this.totalGrids;
  }

  /** Whether every grid of the area is drawn (else names of grids out of view come from `addNames`). */
  get hasEveryGrid(): boolean {
    return this.complete;
  }

  nameOf(code: string | null | undefined): string | null {
    if (!code) return null;
    return this.names.get(code) ?? (code.length > 15 ? this.names.get(code.slice(0, 15)) ?? null : null);
  }

  /** Names of grids not drawn yet (the registry's list), for the list beside the map and the alert feed. */
  addNames(rows: Pick<GridProperties, "code" | "name">[]): void {
    for (const row of rows) if (!this.names.has(row.code)) this.names.set(row.code, row.name);
  }

  /** The running clocks' lights, by the grid code each case is placed at. */
  setStates(states: Map<string, GridState>): void {
    this.rollup = new Map();
    for (const [code, state] of states) {
      const prefixes = new Set([code, ...[6, 9, 12, 15].filter((n) => n < code.length).map((n) => code.slice(0, n))]);
      for (const prefix of prefixes) {
        const sum = this.rollup.get(prefix) ?? { light: "none", counts: { red: 0, yellow: 0, green: 0 } };
        if (LIGHT_ORDER[state.light] > LIGHT_ORDER[sum.light]) sum.light = state.light;
        sum.counts.red += state.counts.red;
        sum.counts.yellow += state.counts.yellow;
        sum.counts.green += state.counts.green;
        this.rollup.set(prefix, sum);
      }
    }
    this.restyle();
  }

  /** Show a grid (from the list beside the map): zoom to it; its neighbourhood's grids load on the move. */
  async focus(code: string): Promise<void> {
    const grid = this.grids.get(code) ?? (code.length > 15 ? this.grids.get(code.slice(0, 15)) : undefined);
    if (grid && this.view === "grid") {
      this.map.fitBounds((grid.layer as L.Polygon).getBounds(), { padding: [40, 40], maxZoom: 17 });
      grid.layer.openTooltip();
      return;
    }
    // Not drawn: its outline first (one small request), else the community… it lies in.
    let around = grid ? (grid.layer as L.Polygon).getBounds() : undefined;
    if (!around && code.length >= 15 && this.options.loadGrids) {
      const [own] = (await this.options.loadGrids([code.slice(0, 15)], null, 0).catch(() => [])).filter(
        (f) => f.properties.code === code.slice(0, 15),
      );
      if (own) around = extent(own);
    }
    around ??= [12, 9, 6].map((n) => this.areas.get(code.slice(0, n))?.bounds).find((b) => b !== undefined);
    if (!around) return;
    this.pendingFocus = code;
    this.map.fitBounds(around, { padding: [40, 40], maxZoom: 17 });
  }

  destroy(): void {
    clearTimeout(this.moveTimer);
    this.generation += 1;
    this.map.off("moveend", this.moved);
    this.map.remove();
  }

  // ---- drawing

  private setAreas(features: GridFeature[], fillLeaves = true, rendererShapes?: number): void {
    this.outlineLayer?.remove();
    this.leafLayer?.remove();
    this.areas.clear();
    this.leaves.clear();
    const areas = features.filter((f) => !FILLED_LEVELS.has(f.properties.level));
    const parents = new Set<string>();
    for (const feature of areas) {
      const code = feature.properties.code;
      this.names.set(code, feature.properties.name);
      this.areas.set(code, { feature, bounds: extent(feature), grids: Number(feature.properties.grids ?? 0) });
      for (const n of [6, 9, 12]) if (n < code.length) parents.add(code.slice(0, n));
    }
    // Districts, streets and communities: outlines over whatever is filled, never in the way of the pointer.
    this.outlineLayer = L.geoJSON<GridProperties>(collection(areas), {
      renderer: this.renderer(rendererShapes ?? areas.length, "light-outlines"),
      pane: "light-outlines",
      interactive: false,
      style: (feature) => {
        const level = feature!.properties.level;
        return { color: "#263238", weight: level === "community" ? 2 : level === "street" ? 2.5 : 3, opacity: 0.75, fill: false };
      },
    } as L.GeoJSONOptions<GridProperties>).addTo(this.map);
    if (!fillLeaves) return;
    // The leaves (no finer area drawn inside them): filled by the worst light beneath them while grids are not shown.
    const leaves = areas.filter((f) => !parents.has(f.properties.code));
    this.leafLayer = L.geoJSON<GridProperties>(collection(leaves), {
      renderer: this.renderer(leaves.length, "light-fills"),
      pane: "light-fills",
      style: (feature) => this.style(feature!.properties.code),
      onEachFeature: (feature, layer) => {
        const code = feature.properties.code;
        const path = layer as L.Path;
        path.bindTooltip(() => this.tooltip(code), { sticky: true, direction: "top" });
        path.on("click", () => this.map.fitBounds(this.areas.get(code)!.bounds, { padding: [16, 16] }));
        this.leaves.set(code, { feature, layer: path });
      },
    } as L.GeoJSONOptions<GridProperties>);
  }

  /** Draw these grids (replacing those drawn): comprehensive first, dedicated (schools, hospitals…) on top. */
  private setGrids(features: GridFeature[]): void {
    const shown = this.view === "grid" && this.gridLayer !== null;
    this.gridLayer?.remove();
    this.grids.clear();
    features.sort((a, b) => Number(a.properties.kind === "dedicated") - Number(b.properties.kind === "dedicated"));
    this.gridLayer = L.geoJSON<GridProperties>(collection(features), {
      renderer: this.renderer(features.length, "light-fills"),
      pane: "light-fills",
      style: (feature) => this.style(feature!.properties.code),
      onEachFeature: (feature, layer) => {
        const code = feature.properties.code;
        const path = layer as L.Path;
        this.names.set(code, feature.properties.name);
        path.bindTooltip(() => this.tooltip(code), { sticky: true, direction: "top" });
        this.grids.set(code, { feature, layer: path });
      },
    } as L.GeoJSONOptions<GridProperties>);
    if (shown) this.gridLayer.addTo(this.map);
  }

  private renderer(shapes: number, pane: string): L.Renderer {
    return shapes > this.svgAtMost ? L.canvas({ padding: 0.2, pane }) : L.svg({ padding: 0.2, pane });
  }

  /** Switch between the grids and the filled areas; markers follow what is shown. */
  private show(view: MapView): void {
    this.view = view;
    const [on, off] = view === "grid" ? [this.gridLayer, this.leafLayer] : [this.leafLayer, this.gridLayer];
    off?.remove();
    if (on && !this.map.hasLayer(on)) on.addTo(this.map);
    for (const marker of this.markers.values()) marker.remove();
    this.markers.clear();
    this.restyle();
    this.container.dataset.view = view;
    const drawn = this.drawn;
    const key = `${drawn.view}/${drawn.shapes}`;
    if (key !== this.lastDrawn) {
      this.lastDrawn = key;
      this.options.onDraw?.(drawn);
    }
    if (view === "grid" && this.pendingFocus) {
      const code = this.pendingFocus;
      const grid = this.grids.get(code) ?? this.grids.get(code.slice(0, 15));
      if (grid) {
        this.pendingFocus = null;
        grid.layer.openTooltip((grid.layer as L.Polygon).getBounds().getCenter());
      }
    }
  }

  private get container(): HTMLElement {
    return this.map.getContainer();
  }

  private fit(): void {
    const bounds = L.latLngBounds([]);
    for (const area of this.areas.values()) bounds.extend(area.bounds);
    if (!bounds.isValid() && this.gridLayer) {
      const extent = this.gridLayer.getBounds();
      if (extent.isValid()) bounds.extend(extent);
    }
    if (bounds.isValid()) this.map.fitBounds(bounds, { padding: [16, 16], animate: false });
  }

  // ---- what the view needs

  private readonly moved = (): void => {
    clearTimeout(this.moveTimer);
    this.moveTimer = setTimeout(() => void this.update().catch(() => undefined), MOVE_DEBOUNCE_MS);
  };

  /** Grids if the view holds few enough (loading those of the view unless loaded), else the filled areas. */
  private async update(): Promise<void> {
    if (this.complete) return;
    const generation = ++this.generation;
    const view = this.map.getBounds();
    const zoom = Math.floor(this.map.getZoom());
    let inView = 0; // each area's grids, in the share of its extent the view covers
    for (const code of this.leaves.keys()) {
      const area = this.areas.get(code)!;
      inView += area.grids * overlap(area.bounds, view);
    }
    if (inView > this.inViewAtMost) {
      this.show("area");
      await this.drawnMark();
      return;
    }
    if (!this.loadedBox?.contains(view) || zoom > this.loadedZoom + 2) {
      const box = snapped(view.pad(VIEW_PADDING), zoom);
      const codes = this.areaCodes.filter((code) => {
        const area = this.areas.get(code);
        return !area || area.bounds.intersects(box);
      });
      const features = await this.options.loadGrids!(codes, boxOf(box), tolerance(zoom));
      if (generation !== this.generation) return; // the map moved on meanwhile: a later update draws
      this.setGrids(features);
      this.loadedBox = box;
      this.loadedZoom = zoom;
    }
    this.show("grid");
    await this.drawnMark();
  }

  private async drawnMark(): Promise<void> {
    await painted();
    performance.mark("view-drawn", { detail: this.drawn });
  }

  // ---- lights

  private light(code: string): GridLight {
    return this.rollup.get(code)?.light ?? "none";
  }

  private style(code: string): L.PathOptions {
    const look = LIGHTS[this.light(code)];
    return {
      color: look.stroke,
      weight: look.weight,
      dashArray: look.dashArray ?? "",
      fillColor: look.fill,
      fillOpacity: look.fillOpacity,
      opacity: 0.9,
    };
  }

  private restyle(): void {
    const shapes = this.view === "grid" ? this.grids : this.leaves;
    const attribute = this.view === "grid" ? "data-grid" : "data-area";
    for (const [code, { layer }] of shapes) {
      const light = this.light(code);
      layer.setStyle(this.style(code));
      const element = (layer as L.Path & { getElement?: () => Element | undefined }).getElement?.();
      if (element) {
        element.setAttribute(attribute, code);
        element.setAttribute("data-light", light);
        element.setAttribute("class", `leaflet-interactive grid-shape light-${light}`);
      }
      this.mark(code, shapes);
    }
  }

  /** A marker with the light's shape and words on a yellow or red grid (none on green and quiet ones); on an
   * area, its shape and the number of cases in that light (the words in its title and the list beside the map). */
  private mark(code: string, shapes: Map<string, Shape>): void {
    const light = this.light(code);
    const existing = this.markers.get(code);
    if (light !== "red" && light !== "yellow") {
      if (existing) {
        existing.remove();
        this.markers.delete(code);
      }
      return;
    }
    const shape = shapes.get(code);
    if (!shape) return;
    const count = this.rollup.get(code)?.counts[light] ?? 0;
    const area = this.view === "area";
    const label = LIGHTS[light].label;
    const content = h(
      "span",
      {
        class: `grid-marker light-${light}${area ? " compact" : ""}`,
        [area ? "data-area" : "data-grid"]: code,
        "data-light": light,
        title: area ? `${this.nameOf(code) ?? code}：${label} ${count} 件` : null,
      },
      iconOf(light),
      h("span", {}, area ? String(count) : count > 1 ? `${label}×${count}` : label),
    );
    // No size: the CSS sizes the marker and centres it on the grid (Leaflet's default would be 12 × 12 px).
    const icon = L.divIcon({ className: "grid-marker-anchor", html: content, iconSize: null as unknown as L.PointExpression });
    if (existing) {
      existing.setIcon(icon);
      return;
    }
    const centre = (shape.layer as L.Polygon).getBounds().getCenter();
    const marker = L.marker(centre, { icon, interactive: false, keyboard: false });
    marker.addTo(this.markerLayer);
    this.markers.set(code, marker);
  }

  private tooltip(code: string): HTMLElement {
    const state = this.rollup.get(code);
    const light = state?.light ?? "none";
    const counts = state?.counts;
    const area = this.areas.get(code);
    return h(
      "div",
      { class: "grid-tooltip" },
      h("strong", {}, this.nameOf(code) ?? code),
      h("div", { class: "code" }, code),
      h("div", {}, lightIcon(light), ` ${LIGHTS[light].label}·${LIGHTS[light].meaning}`),
      counts ? h("div", {}, `在办：红灯 ${counts.red} · 黄灯 ${counts.yellow} · 绿灯 ${counts.green}`) : null,
      area ? h("div", { class: "hint" }, `${LEVEL_WORDS[area.feature.properties.level] ?? ""}内 ${area.grids} 个网格，点击放大查看`) : null,
    );
  }
}

/** A light's icon for a marker: a copy of one made once (hundreds of markers on a city). */
const icons = new Map<GridLight, SVGSVGElement>();
function iconOf(light: GridLight): SVGSVGElement {
  if (!icons.has(light)) icons.set(light, lightIcon(light));
  return icons.get(light)!.cloneNode(true) as SVGSVGElement;
}

const LIGHT_ORDER: Record<GridLight, number> = { none: 0, green: 1, yellow: 2, red: 3 };

/** Degrees per pixel at a zoom level (Web Mercator, at the equator: an upper bound elsewhere). */
const degreesPerPixel = (zoom: number): number => 360 / (256 * 2 ** zoom);

/** A quarter of a pixel two levels deeper than the view: invisible while the grids stay loaded (they reload past
 * two levels deeper). */
const tolerance = (zoom: number): number => Number((degreesPerPixel(zoom + 2) / 4).toPrecision(2));

/** The box widened to a lattice of the zoom level, so small moves ask for the same box (HTTP-cacheable). */
function snapped(bounds: L.LatLngBounds, zoom: number): L.LatLngBounds {
  const step = degreesPerPixel(zoom) * 128;
  const down = (x: number) => Math.floor(x / step) * step;
  const up = (x: number) => Math.ceil(x / step) * step;
  return L.latLngBounds(
    [Math.max(-90, down(bounds.getSouth())), Math.max(-180, down(bounds.getWest()))],
    [Math.min(90, up(bounds.getNorth())), Math.min(180, up(bounds.getEast()))],
  );
}

/** The share of `a` that `b` covers (by their extents in degrees). */
function overlap(a: L.LatLngBounds, b: L.LatLngBounds): number {
  const width = Math.min(a.getEast(), b.getEast()) - Math.max(a.getWest(), b.getWest());
  const height = Math.min(a.getNorth(), b.getNorth()) - Math.max(a.getSouth(), b.getSouth());
  const whole = (a.getEast() - a.getWest()) * (a.getNorth() - a.getSouth());
  if (width <= 0 || height <= 0) return 0;
  return whole > 0 ? Math.min(1, (width * height) / whole) : 1;
}

/** A feature's bounds, read off its coordinates (no layer made for it). */
function extent(feature: GridFeature): L.LatLngBounds {
  let [west, south, east, north] = [180, 90, -180, -90];
  const visit = (value: unknown): void => {
    if (!Array.isArray(value)) return;
    if (typeof value[0] === "number") {
      const [lon, lat] = value as number[];
      west = Math.min(west, lon);
      east = Math.max(east, lon);
      south = Math.min(south, lat);
      north = Math.max(north, lat);
      return;
    }
    for (const item of value) visit(item);
  };
  const geometry = feature.geometry as { coordinates?: unknown } | null;
  visit(geometry?.coordinates);
  return L.latLngBounds([south, west], [north, east]);
}

function boxOf(bounds: L.LatLngBounds): Box {
  return [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()];
}
