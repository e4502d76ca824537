// The device's own storage (IndexedDB, through idb): the outbox of writes waiting to be sent (outbox.ts) and a
// cache of what was last read (my cases, a case, the categories, my grids and their outlines) so the app shows
// something useful offline. One database per origin; cached reads are kept per signed-in user.

import { type DBSchema, type IDBPDatabase, openDB } from "idb";

import type { OutboxItem } from "./outbox";

interface Cached {
  key: string;
  value: unknown;
  savedAt: number;
}

interface WorkerDB extends DBSchema {
  outbox: {
    key: number;
    value: OutboxItem;
    indexes: { byLocalId: string };
  };
  cache: {
    key: string;
    value: Cached;
  };
}

const NAME = "grid-worker";
const VERSION = 1;

let opened: Promise<IDBPDatabase<WorkerDB>> | null = null;

export function db(): Promise<IDBPDatabase<WorkerDB>> {
  opened ??= openDB<WorkerDB>(NAME, VERSION, {
    upgrade(database) {
      const outbox = database.createObjectStore("outbox", { keyPath: "seq", autoIncrement: true });
      outbox.createIndex("byLocalId", "localId", { unique: true });
      database.createObjectStore("cache", { keyPath: "key" });
    },
    blocking() {
      // A newer version of the app wants to upgrade the database: let it.
      void opened?.then((database) => database.close());
      opened = null;
    },
  });
  return opened;
}

export async function cacheGet<T>(key: string): Promise<{ value: T; savedAt: number } | null> {
  const row = await (await db()).get("cache", key);
  return row ? { value: row.value as T, savedAt: row.savedAt } : null;
}

export async function cachePut(key: string, value: unknown): Promise<void> {
  await (await db()).put("cache", { key, value, savedAt: Date.now() });
}

export async function outboxAll(): Promise<OutboxItem[]> {
  return (await db()).getAll("outbox");
}

export async function outboxGet(seq: number): Promise<OutboxItem | undefined> {
  return (await db()).get("outbox", seq);
}

export async function outboxByLocalId(localId: string): Promise<OutboxItem | undefined> {
  return (await db()).getFromIndex("outbox", "byLocalId", localId);
}

/** Add items in one transaction (a report and its photos, a 办结 and its photos: all queued or none). */
export async function outboxAdd(items: Omit<OutboxItem, "seq">[]): Promise<void> {
  const tx = (await db()).transaction("outbox", "readwrite");
  await Promise.all([...items.map((item) => tx.store.add(item as OutboxItem)), tx.done]);
}

export async function outboxPut(item: OutboxItem): Promise<void> {
  await (await db()).put("outbox", item);
}

export async function outboxDelete(seqs: number[]): Promise<void> {
  const tx = (await db()).transaction("outbox", "readwrite");
  await Promise.all([...seqs.map((seq) => tx.store.delete(seq)), tx.done]);
}
