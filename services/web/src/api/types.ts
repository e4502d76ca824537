// Shapes of what the four services answer, as far as the console reads them (DESIGN §6).

import type { Feature, FeatureCollection, Geometry } from "geojson";

export type Light = "green" | "yellow" | "red";
export type Level = "none" | "reminder" | "yellow_card" | "red_card" | "leader";
export type Phase = "sign" | "handle" | "verify";

/** supervision GET /v1/clocks (a running phase clock of an open case). */
export interface Clock {
  incident_id: string;
  phase: Phase;
  light: Light;
  started_at: string;
  yellow_at: string;
  due_at: string;
  paused: boolean;
  level: Level;
  remaining_seconds: number;
  running: boolean;
  grid_code: string | null;
  unit_id: string | null;
  category: string;
  urgency: string;
}

/** routing's grid registry: properties of GET /v1/grids/{code}/geojson features, rows of GET /v1/grids. */
export interface GridProperties {
  code: string;
  name: string;
  level: "district" | "street" | "community" | "grid" | "micro";
  kind: string | null;
  parent_code: string | null;
  dedicated_type: string | null;
  /** On districts, streets and communities of the GeoJSON export: how many grids lie in it. */
  grids?: number;
}

export type GridFeature = Feature<Geometry, GridProperties>;
export type GridCollection = FeatureCollection<Geometry, GridProperties>;

/** intake GET /v1/categories. */
export interface Category {
  code: string;
  name_zh: string;
  name_en: string;
  default_owner: string;
  default_urgency: string;
}

/** One message of notifications' live alert stream (GET /v1/alerts/stream): its data, as the event carried it. */
export interface AlertData {
  incident_id: string;
  grid_code: string | null;
  at?: string;
  phase?: Phase;
  light?: Light;
  previous_light?: Light;
  level?: Level;
  previous_level?: Level;
  manual?: boolean;
  note?: string;
  category?: string;
  urgency?: string;
  due_at?: string;
  [more: string]: unknown;
}

export interface Alert {
  id: string | null;
  event: string;
  data: AlertData;
}

/** supervision POST /v1/dev/token (dev and test stacks only). */
export interface DevToken {
  token: string;
  token_type: "Bearer";
  expires_in: number;
  expires_at: number;
}

// ---- the supervisor console (issue 16, item 3): boards, the centre's queues, the case page, the 红黑榜

/** supervision GET /v1/clocks (and /v1/clocks/{id}): a clock with its time left, counted by the one calendar
 * (shared/calendar.py): the working time for a limit in working time, natural time for an `hours` limit. */
export interface BoardClock extends Clock {
  remaining_working_seconds: number;
  counts_in: "working_time" | "natural_time";
  /** Its time runs down right now (running, not paused, inside working hours for a working-time limit). */
  counting: boolean;
  working_day_seconds: number;
  limit: { amount: number; unit: "hours" | "working_hours" | "working_days" };
  extension: { amount: number; unit: string };
  due_version: number;
}

export interface ClockHistoryEntry {
  phase: Phase;
  cycle: number;
  light: Light;
  level: Level;
  started_at: string;
  due_at: string;
  stopped_at: string | null;
}

/** supervision GET /v1/clocks/{incident_id}: the current (running, else last) clock and every phase so far. */
export interface CaseClock extends BoardClock {
  history: ClockHistoryEntry[];
}

export interface Owner {
  unit_id: string;
  unit_name: string;
  unit_kind: string;
  worker_id?: string | null;
  worker_name?: string | null;
  worker_phone?: string | null;
}

export interface TimelineEntry {
  at: string;
  action: string;
  actor: string | null;
  detail: Record<string, unknown>;
}

/** intake GET /v1/incidents/{id}. */
export interface Incident {
  id: string;
  source: string;
  category: string;
  urgency: string;
  title: string;
  description: string;
  status: string;
  location: { lon: number; lat: number } | null;
  address: string | null;
  grid_code: string | null;
  reporter: { name?: string | null; phone?: string | null } | null;
  reported_at: string;
  received_at: string;
  owner: Owner | null;
  co_owners: Owner[];
  return_count: number;
  pending_extension: { amount: number; unit: string; reason: string; at?: string; requested_by?: string } | null;
  pending_suspension: { reason: string; until: string | null; requested_by?: string; at?: string } | null;
  suspended_until: string | null;
  extension_working_days: number;
  deadline: string | null;
  hotline_order_no: string | null;
  duplicate_of: string | null;
  merged_into: string | null;
  allowed_actions: string[];
  timeline: TimelineEntry[];
}

export type CentreQueueKind = "unplaced" | "final_dispatch" | "to_complete" | "to_merge" | "dispatch";
export type QueueName = "centre" | CentreQueueKind | "extension" | "suspension";

/** intake GET /v1/incidents (with queue=…: the centre's queues). */
export interface IncidentSummary {
  id: string;
  source: string;
  category: string;
  urgency: string;
  title: string;
  status: string;
  grid_code: string | null;
  received_at: string;
  owner: Owner | null;
  hotline_order_no: string | null;
  pending_extension: Incident["pending_extension"];
  pending_suspension: Incident["pending_suspension"];
  queue: { kind: CentreQueueKind; reason: string | null; since: string } | null;
}

export interface IncidentPage {
  items: IncidentSummary[];
  next_cursor: string | null;
}

/** intake POST /v1/incidents/{id}/actions. */
export interface ActionResult {
  id: string;
  status: string;
  allowed_actions: string[];
}

/** intake GET /v1/incidents/{id}/attachments. */
export interface Attachment {
  id: string;
  status: "pending" | "stored" | "failed";
  origin: string;
  media_type: string | null;
  filename: string | null;
  size_bytes: number | null;
  width: number | null;
  height: number | null;
  captured_at: string | null;
  gps: { lon: number; lat: number } | null;
  has_thumbnail: boolean;
  created_at: string;
  created_by: string | null;
  href: string | null;
  thumbnail_href: string | null;
}

/** routing GET /v1/assignments/{id}. */
export interface AssignmentStep {
  at: string;
  kind: "assigned" | "reassigned" | "unroutable" | "dispatched";
  unit_id: string | null;
  worker_id: string | null;
  grid_code: string | null;
  place_code: string | null;
  reason: string | null;
}

export interface Assignments {
  incident_id: string;
  current: AssignmentStep | null;
  history: AssignmentStep[];
}

/** routing GET /v1/units: whom the caller may dispatch to. */
export interface Unit {
  id: string;
  kind: "grid" | "community" | "street" | "district" | "department";
  name: string;
  area: string[];
  department: string | null;
}

/** notifications GET /v1/deliveries (SMS, mail, and the 12345 callbacks: channel webhook). */
export interface Delivery {
  id: string;
  event_type: string;
  incident_id: string;
  channel: "sms" | "email" | "webhook" | "sse";
  recipient: string;
  address: string;
  subject: string | null;
  body: string;
  status: "pending" | "sent" | "failed" | "dead";
  attempts: number;
  last_error: string | null;
  created_at: string;
  sent_at: string | null;
}

export type MetricName =
  | "timely_sign_rate"
  | "on_time_completion_rate"
  | "closure_rate"
  | "response_rate"
  | "solved_rate"
  | "satisfaction_rate"
  | "return_rate"
  | "urge_rate"
  | "reopen_rate"
  | "rework_rate";

export interface UnitFigures {
  key: string;
  name: string | null;
  cases: number;
  escalation_points: number;
  metrics: Record<MetricName, { numerator: number; denominator: number; rate: number | null }>;
}

interface ReportPeriod {
  month: string | null;
  quarter: string | null;
  months?: string[];
  as_of: string;
  frozen: boolean;
  freeze_at: string;
}

export type RankLevel = "grid" | "community" | "street" | "district" | "department";

/** supervision GET /v1/rankings: the 红黑榜. */
export interface Rankings extends ReportPeriod {
  level: RankLevel;
  score: string;
  units: (UnitFigures & { rank: number | null; score: number | null })[];
  red_list: string[];
  black_list: string[];
}

/** supervision GET /v1/stats. */
export interface Stats extends ReportPeriod {
  group_by: RankLevel | "unit";
  definitions: Record<MetricName, { name: string; numerator: string }>;
  rows: UnitFigures[];
}
