// The outbox: every write of the grid-worker app (a report, an action on a case, a photo) is first queued on the
// device (IndexedDB), each with its own Idempotency-Key made when it is queued, then sent in the order it was
// queued, now or when the network returns. So nothing is lost when the phone is offline or the app is closed, and
// nothing lands twice: a resend (the answer never arrived, the app restarted mid-send) carries the same key and
// the same body, and intake answers it with what the first one did (POST /v1/incidents, /actions, /attachments
// all honour the key).
//
// Items may depend on earlier ones: a photo of a report made offline names the report (its case id is known once
// the report is sent); a 办结 names its photos (their attachment ids are known once they are uploaded).
//
// Sending: in order, one at a time, only while the browser says it is online, only the signed-in user's own items
// (a queued write is never sent under someone else's token). A network error, a 5xx, 408 or 429 is retried with
// backoff (1 s doubling to a minute, jittered; at once when the browser comes back online); any other 4xx marks
// the item failed, shown with the reason and never retried by itself, and so are the items that depend on it; a
// 401 pauses the queue until the user signs in again.

import { type ApiClient, ApiError } from "../api/client";
import { intake } from "./api";
import { outboxAdd, outboxAll, outboxByLocalId, outboxDelete, outboxPut } from "./store";

export type OutboxKind = "report" | "action" | "upload";
export type OutboxStatus = "pending" | "sending" | "sent" | "failed";
/** The case an item is about: known, or the case an earlier queued report will create. */
export type CaseRef = { id: string } | { ref: string };

export interface OutboxItem {
  seq: number;
  localId: string;
  /** Who queued it (the token's sub): sent only while they are signed in. */
  owner: string;
  kind: OutboxKind;
  /** The Idempotency-Key, made once when queued and sent with every attempt. */
  key: string;
  /** What it is, in words. */
  label: string;
  caseTitle: string;
  /** The action's name (sign, progress, …) for actions. */
  action: string | null;
  incident: CaseRef | null;
  body: Record<string, unknown> | null;
  /** For an action: the queued photos whose attachment ids are added to `body.attachments`. */
  photoRefs: string[];
  file: Blob | null;
  filename: string | null;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: number;
  createdAt: number;
  sentAt: number | null;
  error: string | null;
  httpStatus: number | null;
  /** What the service answered: the case's id (a report), the case's status (an action), the attachment's id. */
  result: { id: string; status?: string } | null;
}

export type NewItem = Pick<OutboxItem, "kind" | "label" | "caseTitle"> &
  Partial<Pick<OutboxItem, "action" | "incident" | "body" | "photoRefs" | "file" | "filename" | "localId">>;

export type OutboxState = "idle" | "sending" | "waiting" | "offline" | "signin";

export interface OutboxCounts {
  pending: number;
  sent: number;
  failed: number;
}

const MAX_DELAY_MS = 60_000;
const KEEP_SENT_MS = 3 * 24 * 3600 * 1000;

/** A random UUID (crypto.randomUUID where the page is a secure context; the same from random bytes elsewhere). */
export function newKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The local ids of the earlier items this one needs: the report whose case it is about, its photos. */
export function dependencies(item: OutboxItem): string[] {
  return [...(item.incident && "ref" in item.incident ? [item.incident.ref] : []), ...item.photoRefs];
}

export function isOpen(item: OutboxItem): boolean {
  return item.status === "pending" || item.status === "sending";
}

type Outcome = "sent" | "failed" | "retry" | "signin" | "wait";

class Refused extends Error {}

export class Outbox extends EventTarget {
  items: OutboxItem[] = [];
  state: OutboxState = "idle";
  private running = false;
  private again = false;
  private timer: number | undefined;

  constructor(
    private readonly api: ApiClient,
    /** The signed-in user's sub (null: nobody; nothing is sent). */
    private readonly owner: () => string | null,
  ) {
    super();
    window.addEventListener("online", () => void this.flush({ now: true }));
    window.addEventListener("offline", () => this.setState("offline"));
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") void this.flush();
    });
  }

  async load(): Promise<void> {
    const all = await outboxAll();
    const old = all.filter((i) => i.status === "sent" && (i.sentAt ?? 0) < Date.now() - KEEP_SENT_MS);
    if (old.length) await outboxDelete(old.map((i) => i.seq));
    await this.refresh();
  }

  /** The signed-in user's items, in queue order. */
  mine(): OutboxItem[] {
    const owner = this.owner();
    return this.items.filter((i) => i.owner === owner);
  }

  counts(): OutboxCounts {
    const mine = this.mine();
    return {
      pending: mine.filter(isOpen).length,
      sent: mine.filter((i) => i.status === "sent").length,
      failed: mine.filter((i) => i.status === "failed").length,
    };
  }

  /** Items about a case, not yet through (pending, sending) or failed. */
  openFor(incidentId: string): OutboxItem[] {
    return this.mine().filter((i) => i.incident && "id" in i.incident && i.incident.id === incidentId && i.status !== "sent");
  }

  /** Queue writes (all in one transaction, in this order) and start sending. Returns their local ids. */
  async enqueue(items: NewItem[]): Promise<string[]> {
    const owner = this.owner();
    if (!owner) throw new Error("未登录，无法加入待发送队列");
    const now = Date.now();
    const rows = items.map((item) => ({
      localId: item.localId ?? newKey(),
      owner,
      kind: item.kind,
      key: newKey(),
      label: item.label,
      caseTitle: item.caseTitle,
      action: item.action ?? null,
      incident: item.incident ?? null,
      body: item.body ?? null,
      photoRefs: item.photoRefs ?? [],
      file: item.file ?? null,
      filename: item.filename ?? null,
      status: "pending" as const,
      attempts: 0,
      nextAttemptAt: 0,
      createdAt: now,
      sentAt: null,
      error: null,
      httpStatus: null,
      result: null,
    }));
    await outboxAdd(rows);
    await this.refresh();
    void this.flush();
    return rows.map((r) => r.localId);
  }

  /** The failed item this one waits for (its report, its photos), if one failed: then it goes with that one. */
  failedDependency(item: OutboxItem): OutboxItem | null {
    return dependencies(item)
      .map((localId) => this.items.find((i) => i.localId === localId))
      .find((i): i is OutboxItem => i?.status === "failed") ?? null;
  }

  /** The failed items that wait for this one, and those that wait for them. */
  private failedDependents(localId: string): OutboxItem[] {
    const found: OutboxItem[] = [];
    const visit = (id: string) => {
      for (const item of this.items) {
        if (item.status === "failed" && dependencies(item).includes(id) && !found.includes(item)) {
          found.push(item);
          visit(item.localId);
        }
      }
    };
    visit(localId);
    return found;
  }

  /** Send a failed item again, with what failed because of it (same keys: if one did land after all, the service
   * answers as the first time). */
  async retry(localId: string): Promise<void> {
    await this.refresh();
    const item = this.items.find((i) => i.localId === localId);
    if (!item || item.status !== "failed") return;
    for (const one of [item, ...this.failedDependents(localId)]) {
      await outboxPut({ ...one, status: "pending", attempts: 0, nextAttemptAt: 0, error: null, httpStatus: null });
    }
    await this.refresh();
    void this.flush();
  }

  /** Drop a failed item from the device, with what can never be sent without it. */
  async discard(localId: string): Promise<void> {
    await this.refresh();
    const item = this.items.find((i) => i.localId === localId);
    if (!item || isOpen(item)) return;
    await outboxDelete([item, ...this.failedDependents(localId)].map((i) => i.seq));
    await this.refresh();
  }

  /** Send what is due, in order. `now`: the network just came back; what was waiting for a retry goes now. */
  async flush({ now = false } = {}): Promise<void> {
    if (now) await this.wake();
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      const pass = async () => {
        do {
          this.again = false;
          await this.pass();
        } while (this.again);
      };
      // One tab sends at a time (another tab's pass waits, then finds the items sent).
      if (navigator.locks) await navigator.locks.request("grid-worker-outbox", pass);
      else await pass();
    } finally {
      this.running = false;
    }
  }

  private async wake(): Promise<void> {
    const owner = this.owner();
    for (const item of await outboxAll()) {
      if (item.owner === owner && isOpen(item) && item.nextAttemptAt > 0) {
        await outboxPut({ ...item, nextAttemptAt: 0 });
      }
    }
  }

  private async pass(): Promise<void> {
    window.clearTimeout(this.timer);
    const owner = this.owner();
    if (!owner) return;
    if (!navigator.onLine) {
      await this.refresh();
      this.setState("offline");
      return;
    }
    const queue = (await outboxAll()).filter((i) => i.owner === owner && isOpen(i)).sort((a, b) => a.seq - b.seq);
    for (const item of queue) {
      if (item.nextAttemptAt > Date.now()) {
        this.schedule(item.nextAttemptAt);
        this.setState("waiting");
        return;
      }
      this.setState("sending");
      const outcome = await this.send(item);
      await this.refresh();
      if (outcome === "retry" || outcome === "wait") {
        const next = (await outboxByLocalId(item.localId))?.nextAttemptAt ?? Date.now() + 1000;
        this.schedule(next);
        this.setState(navigator.onLine ? "waiting" : "offline");
        return;
      }
      if (outcome === "signin") {
        this.setState("signin");
        return;
      }
    }
    this.setState("idle");
  }

  private schedule(at: number): void {
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.flush(), Math.max(0, at - Date.now()));
  }

  /** The case id an item is about, once known. */
  private async caseId(item: OutboxItem): Promise<string | null> {
    if (!item.incident) return null;
    if ("id" in item.incident) return item.incident.id;
    return this.resultOf(item.incident.ref, "上报");
  }

  private async resultOf(localId: string, what: string): Promise<string | null> {
    const earlier = await outboxByLocalId(localId);
    if (!earlier) throw new Refused(`所依赖的${what}已从队列删除`);
    if (earlier.status === "failed") throw new Refused(`所依赖的「${earlier.label}」未能送达`);
    return earlier.status === "sent" && earlier.result ? earlier.result.id : null;
  }

  private async send(item: OutboxItem): Promise<Outcome> {
    let incidentId: string | null = null;
    let photos: string[] = [];
    try {
      if (item.kind !== "report") {
        incidentId = await this.caseId(item);
        if (!incidentId) return this.later(item, "等待所依赖的上报送达");
      }
      for (const ref of item.photoRefs) {
        const id = await this.resultOf(ref, "照片");
        if (!id) return this.later(item, "等待照片上传");
        photos.push(id);
      }
    } catch (error) {
      if (error instanceof Refused) return this.fail(item, error.message, null);
      throw error;
    }
    photos = [...new Set(photos)];
    await outboxPut({ ...item, status: "sending" });
    try {
      let result: OutboxItem["result"];
      if (item.kind === "report") {
        const accepted = await intake.report(this.api, item.body, item.key);
        result = { id: accepted.id, status: accepted.status };
      } else if (item.kind === "action") {
        const given = (item.body?.attachments as string[] | undefined) ?? [];
        const body = photos.length ? { ...item.body, attachments: [...given, ...photos] } : item.body;
        const answer = await intake.act(this.api, incidentId!, body, item.key);
        result = { id: answer.id, status: answer.status };
      } else {
        if (!item.file) return this.fail(item, "照片文件已不在设备上", null);
        const stored = await intake.attach(this.api, incidentId!, item.file, item.filename ?? "photo.jpg", item.key);
        result = { id: stored.id };
      }
      const sent: OutboxItem = {
        ...item,
        status: "sent",
        sentAt: Date.now(),
        result,
        error: null,
        httpStatus: null,
        file: null, // the bytes are on the server now
      };
      await outboxPut(sent);
      this.dispatchEvent(new CustomEvent("sent", { detail: sent }));
      return "sent";
    } catch (error) {
      if (error instanceof ApiError) {
        if (error.status === 401) {
          await outboxPut({ ...item, status: "pending", error: "登录已过期：重新登录后继续发送" });
          return "signin";
        }
        if (error.status === 408 || error.status === 429 || error.status >= 500) {
          return this.retryLater(item, `服务暂不可用（HTTP ${error.status}）`);
        }
        return this.fail(item, error.message || `HTTP ${error.status}`, error.status);
      }
      return this.retryLater(item, "网络不可用");
    }
  }

  private async later(item: OutboxItem, why: string): Promise<Outcome> {
    await outboxPut({ ...item, status: "pending", error: why, nextAttemptAt: Date.now() + 1000 });
    return "wait";
  }

  private async retryLater(item: OutboxItem, why: string): Promise<Outcome> {
    const attempts = item.attempts + 1;
    const delay = Math.min(MAX_DELAY_MS, 1000 * 2 ** Math.min(attempts - 1, 6)) * (0.75 + Math.random() * 0.5);
    await outboxPut({ ...item, status: "pending", attempts, error: why, nextAttemptAt: Date.now() + delay });
    return "retry";
  }

  private async fail(item: OutboxItem, why: string, status: number | null): Promise<Outcome> {
    await outboxPut({ ...item, status: "failed", attempts: item.attempts + 1, error: why, httpStatus: status });
    this.dispatchEvent(new CustomEvent("failed", { detail: item }));
    return "failed";
  }

  private async refresh(): Promise<void> {
    this.items = (await outboxAll()).sort((a, b) => a.seq - b.seq);
    this.dispatchEvent(new Event("change"));
  }

  private setState(state: OutboxState): void {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new Event("change"));
  }
}
