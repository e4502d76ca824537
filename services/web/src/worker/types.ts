// What the grid-worker app reads of intake, routing and supervision (DESIGN §6), as far as it reads them. The
// console's shared shapes (Clock, Category, GridCollection…) are in ../api/types.ts.

import type { Clock } from "../api/types";

export type Status =
  | "received"
  | "assigned"
  | "in_progress"
  | "suspended"
  | "returned"
  | "pending_verification"
  | "closed"
  | "visited"
  | "merged"
  | "rejected";

export const OPEN_STATUSES: Status[] = [
  "received",
  "assigned",
  "in_progress",
  "suspended",
  "returned",
  "pending_verification",
];

export interface Owner {
  unit_id?: string | null;
  unit_name?: string | null;
  unit_kind?: string | null;
  worker_id?: string | null;
}

/** intake GET /v1/incidents (one row of a page). */
export interface IncidentSummary {
  id: string;
  source: string;
  category: string;
  urgency: string;
  title: string;
  status: Status;
  grid_code: string | null;
  received_at: string;
  owner: Owner | null;
  hotline_order_no: string | null;
  duplicate_of: string | null;
  merged_into: string | null;
}

export interface IncidentPage {
  items: IncidentSummary[];
  next_cursor: string | null;
}

export interface TimelineEntry {
  at: string;
  action: string;
  actor: string | null;
  detail: Record<string, unknown>;
}

/** intake GET /v1/incidents/{id}. */
export interface Incident extends IncidentSummary {
  description: string;
  location: { lon: number; lat: number } | null;
  address: string | null;
  reporter: { name?: string | null; phone?: string | null } | null;
  attachments: string[];
  reported_at: string;
  co_owners: Owner[];
  return_count: number;
  deadline: string | null;
  allowed_actions: string[];
  timeline: TimelineEntry[];
}

/** intake POST /v1/incidents/{id}/actions. */
export interface ActionResult {
  id: string;
  status: Status;
  allowed_actions: string[];
}

/** intake POST /v1/incidents (202). */
export interface IncidentAccepted {
  id: string;
  status: string;
  received_at: string;
}

/** intake POST and GET /v1/incidents/{id}/attachments. */
export interface AttachmentOut {
  id: string;
  incident_id: string;
  status: "pending" | "stored" | "failed";
  media_type: string | null;
  filename: string | null;
  size_bytes: number | null;
  captured_at: string | null;
  has_thumbnail: boolean;
  created_at: string;
  created_by: string | null;
  href: string | null;
  thumbnail_href: string | null;
}

/** supervision GET /v1/clocks: the shared shape, with the working-time countdown where the service gives it. */
export interface WorkerClock extends Clock {
  remaining_working_seconds?: number;
  counts_in?: "working_time" | "natural_time";
  counting?: boolean;
}

/** routing GET /v1/locate. */
export interface Located {
  grid: { code: string; name: string } | null;
  community?: { code: string; name: string } | null;
  street?: { code: string; name: string } | null;
  district?: { code: string; name: string } | null;
  [more: string]: unknown;
}
