// The routes the grid-worker app calls, typed, in one module (the console's are in ../api/endpoints.ts). Reads go
// through here; writes go through the outbox (outbox.ts), which sends each with its own Idempotency-Key.

import type { ApiClient } from "../api/client";
import type { Category, GridCollection, GridProperties } from "../api/types";
import type {
  ActionResult,
  AttachmentOut,
  Incident,
  IncidentAccepted,
  IncidentPage,
  Located,
  WorkerClock,
} from "./types";

const incidentPath = (id: string) => `/v1/incidents/${encodeURIComponent(id)}`;

export const intake = {
  categories: (api: ApiClient) => api.get<Category[]>("intake", "/v1/categories"),
  /** Cases inside the caller's area, newest first (keyset pages; at most 500 a page). */
  incidents: (api: ApiClient, params: { limit?: number; cursor?: string | null; status?: string } = {},
              signal?: AbortSignal) => api.get<IncidentPage>("intake", "/v1/incidents", params, signal),
  incident: (api: ApiClient, id: string, signal?: AbortSignal) =>
    api.get<Incident>("intake", incidentPath(id), {}, signal),
  attachments: (api: ApiClient, id: string, signal?: AbortSignal) =>
    api.get<AttachmentOut[]>("intake", `${incidentPath(id)}/attachments`, {}, signal),
  report: (api: ApiClient, body: unknown, key: string) =>
    api.post<IncidentAccepted>("intake", "/v1/incidents", body, { headers: { "Idempotency-Key": key } }),
  act: (api: ApiClient, id: string, body: unknown, key: string) =>
    api.post<ActionResult>("intake", `${incidentPath(id)}/actions`, body, { headers: { "Idempotency-Key": key } }),
  attach: (api: ApiClient, id: string, file: Blob, filename: string, key: string) => {
    const form = new FormData();
    form.append("file", file, filename);
    return api.post<AttachmentOut>("intake", `${incidentPath(id)}/attachments`, form, {
      headers: { "Idempotency-Key": key },
    });
  },
};

export const routing = {
  /** The grid (and community, street, district) of a point. 404 outside every grid. */
  locate: (api: ApiClient, lon: number, lat: number, signal?: AbortSignal) =>
    api.get<Located>("routing", "/v1/locate", { lon, lat }, signal),
  grids: (api: ApiClient, params: { parent?: string; level?: GridProperties["level"]; limit?: number }) =>
    api.get<GridProperties[]>("routing", "/v1/grids", params),
  geojson: (api: ApiClient, code: string, signal?: AbortSignal) =>
    api.get<GridCollection>("routing", `/v1/grids/${encodeURIComponent(code)}/geojson`, {}, signal),
};

export const supervision = {
  /** Running clocks inside the caller's area, most urgent first. */
  clocks: (api: ApiClient, params: { unit?: string; limit?: number } = {}, signal?: AbortSignal) =>
    api.get<WorkerClock[]>("supervision", "/v1/clocks", { limit: 1000, ...params }, signal),
  clock: (api: ApiClient, id: string, signal?: AbortSignal) =>
    api.get<WorkerClock>("supervision", `/v1/clocks/${encodeURIComponent(id)}`, {}, signal),
};
