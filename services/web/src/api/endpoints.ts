// Each service's routes the console calls, typed, in one module: pages call these, never fetch() themselves.

import type { ApiClient } from "./client";
import { API_BASE } from "./client";
import type { Role } from "./session";
import type { Category, Clock, DevToken, GridCollection, GridProperties, Light } from "./types";
import type {
  ActionResult,
  Assignments,
  Attachment,
  BoardClock,
  CaseClock,
  Delivery,
  Incident,
  IncidentPage,
  Level,
  Phase,
  QueueName,
  RankLevel,
  Rankings,
  Stats,
  Unit,
} from "./types";

/** The console's boards (issue 16): any of several lights or 督办 levels, a place, a unit, a category (or its
 * group), a phase. */
export interface BoardFilter {
  light?: Light[];
  level?: Level[];
  grid_prefix?: string;
  unit?: string;
  category?: string;
  phase?: Phase;
  limit?: number;
}

/** A period of the statistics: a month (YYYY-MM) or a quarter (YYYY-Qn). */
export type Period = { month: string } | { quarter: string };

export interface GeojsonParams {
  level?: GridProperties["level"][];
  bbox?: string;
  simplify?: number;
  precision?: number;
}

export const ALERT_STREAM_URL = `${API_BASE.notifications}/v1/alerts/stream`;

export const supervision = {
  /** Running clocks inside the caller's area, most urgent first (at most 1000 a call). */
  clocks: (api: ApiClient, params: { light?: Light; grid_prefix?: string; unit?: string; limit?: number } = {},
           signal?: AbortSignal) => api.get<Clock[]>("supervision", "/v1/clocks", { limit: 1000, ...params }, signal),
  clock: (api: ApiClient) => api.get<{ now: string; mode: string; speed: number }>("supervision", "/v1/clock"),
  /** The boards: running clocks by light, 督办 level, place, unit, category and phase, most urgent first. */
  board: (api: ApiClient, filter: BoardFilter, signal?: AbortSignal) =>
    api.get<BoardClock[]>("supervision", "/v1/clocks", { limit: 1000, ...filter }, signal),
  /** A case's clock (its running phase, else its last) with every phase so far; 404 when it has none. */
  clockOf: (api: ApiClient, id: string, signal?: AbortSignal) =>
    api.get<CaseClock>("supervision", `/v1/clocks/${encodeURIComponent(id)}`, {}, signal),
  /** 督办 by hand (supervisor, leader): raises the case's level, never lowers it. */
  escalate: (api: ApiClient, id: string, body: { level: Exclude<Level, "none">; note: string }) =>
    api.post<BoardClock>("supervision", `/v1/clocks/${encodeURIComponent(id)}/escalate`, body),
  rankings: (api: ApiClient, period: Period, level: RankLevel, signal?: AbortSignal) =>
    api.get<Rankings>("supervision", "/v1/rankings", { ...period, level }, signal),
  stats: (api: ApiClient, period: Period, group_by: RankLevel | "unit", signal?: AbortSignal) =>
    api.get<Stats>("supervision", "/v1/stats", { ...period, group_by }, signal),
  /** The 红黑榜 or the statistics as a file (CSV, or XLSX with numbers as numbers and rates as percentages). */
  exportFile: (api: ApiClient, what: "rankings" | "stats", params: Period & { level?: RankLevel; group_by?: string },
               format: "csv" | "xlsx") => api.file("supervision", `/v1/${what}`, { ...params, format }),
  /** Development sign-in (ENV dev|test stacks only; 404 elsewhere). */
  devToken: (api: ApiClient, body: { role: Role; area: string[]; sub?: string; unit?: string }) =>
    api.post<DevToken>("supervision", "/v1/dev/token", body, { auth: false }),
};

export const routing = {
  /** A grid (district, street, community…) and everything under it, as GeoJSON; `params` cut it to what a map's
   * view needs: these levels, what touches `bbox` ("west,south,east,north"), outlines simplified by `simplify`
   * degrees and written with `precision` decimals. */
  geojson: (api: ApiClient, code: string, signal?: AbortSignal, params: GeojsonParams = {}) =>
    api.get<GridCollection>("routing", `/v1/grids/${encodeURIComponent(code)}/geojson`, { ...params }, signal),
  grids: (api: ApiClient, params: { parent?: string; level?: GridProperties["level"]; limit?: number }) =>
    api.get<GridProperties[]>("routing", "/v1/grids", params),
  /** Every routing decision on a case, oldest first; 404 before the first, or outside the caller's area. */
  assignments: (api: ApiClient, id: string, signal?: AbortSignal) =>
    api.get<Assignments>("routing", `/v1/assignments/${encodeURIComponent(id)}`, {}, signal),
  /** 派遣/改派 by the centre: to a unit inside the caller's area, with the reason. */
  dispatch: (api: ApiClient, id: string, body: { unit: string; reason: string; worker?: string | null }) =>
    api.post<{ incident_id: string; owner: { unit_id: string; unit_name: string } }>(
      "routing", `/v1/assignments/${encodeURIComponent(id)}/dispatch`, body),
  /** The units the caller may dispatch to (inside its area). */
  units: (api: ApiClient, params: { kind?: Unit["kind"]; under?: string; limit?: number } = {}, signal?: AbortSignal) =>
    api.get<Unit[]>("routing", "/v1/units", { limit: 5000, ...params }, signal),
};

export const intake = {
  categories: (api: ApiClient) => api.get<Category[]>("intake", "/v1/categories"),
  /** The case record with its timeline; 404 outside the caller's area. */
  incident: (api: ApiClient, id: string, signal?: AbortSignal) =>
    api.get<Incident>("intake", `/v1/incidents/${encodeURIComponent(id)}`, {}, signal),
  /** The centre's queues (centre or one of its kinds; extension, suspension), newest first. */
  queue: (api: ApiClient, queue: QueueName, params: { grid_prefix?: string; category?: string; limit?: number;
          cursor?: string } = {}, signal?: AbortSignal) =>
    api.get<IncidentPage>("intake", "/v1/incidents", { limit: 500, ...params, queue }, signal),
  /** An action on the case (decide_extension, decide_suspension, …): the case's own rules decide. */
  act: (api: ApiClient, id: string, body: { action: string; [field: string]: unknown }) =>
    api.post<ActionResult>("intake", `/v1/incidents/${encodeURIComponent(id)}/actions`, body),
  attachments: (api: ApiClient, id: string, signal?: AbortSignal) =>
    api.get<Attachment[]>("intake", `/v1/incidents/${encodeURIComponent(id)}/attachments`, {}, signal),
  /** An attachment's bytes or thumbnail (`href`/`thumbnail_href` as intake gives them), fetched with the token. */
  attachmentFile: (api: ApiClient, href: string, signal?: AbortSignal) => api.file("intake", href, {}, signal),
};

export const notifications = {
  /** The case's deliveries (SMS, mail, and the 12345 callbacks: channel webhook), oldest first. */
  deliveries: (api: ApiClient, incident_id: string, signal?: AbortSignal) =>
    api.get<Delivery[]>("notifications", "/v1/deliveries", { incident_id, limit: 1000 }, signal),
};
