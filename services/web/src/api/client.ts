// The one HTTP client of the console: every request goes through it, so the token and the services' base paths
// live in one place. nginx serves each service under /api/<service>/ on the console's own origin (no CORS, no
// other host).

import type { Session } from "./session";

export type Service = "intake" | "routing" | "supervision" | "notifications";

export const API_BASE: Record<Service, string> = {
  intake: "/api/intake",
  routing: "/api/routing",
  supervision: "/api/supervision",
  notifications: "/api/notifications",
};

export type Params = Record<string, string | number | boolean | null | undefined | (string | number)[]>;

/** A refusal from a service: RFC 9457 problem details (DESIGN §5), or whatever else came back. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: { title?: string; detail?: string; errors?: { field: string; message: string }[] } = {},
  ) {
    super(problem.detail || problem.title || `HTTP ${status}`);
  }
}

export interface RequestOptions {
  method?: string;
  params?: Params;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** false: send no token (public routes, e.g. the development sign-in). */
  auth?: boolean;
}

export function apiUrl(service: Service, path: string, params?: Params): string {
  const url = new URL(API_BASE[service] + path, window.location.origin);
  for (const [name, value] of Object.entries(params ?? {})) {
    if (value === null || value === undefined || value === "") continue;
    for (const one of Array.isArray(value) ? value : [value]) url.searchParams.append(name, String(one));
  }
  return url.pathname + url.search;
}

export class ApiClient {
  session: Session | null = null;

  /** `onUnauthorized`: a 401 from any service (expired, revoked): the app signs out and asks to sign in again. */
  constructor(private readonly onUnauthorized: () => void) {}

  authHeaders(): Record<string, string> {
    return this.session ? { Authorization: `Bearer ${this.session.token}` } : {};
  }

  async request<T>(service: Service, path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
    if (options.auth !== false) Object.assign(headers, this.authHeaders());
    let body: BodyInit | undefined;
    if (options.body !== undefined) {
      if (options.body instanceof FormData || options.body instanceof Blob) {
        body = options.body;
      } else {
        headers["Content-Type"] = "application/json";
        body = JSON.stringify(options.body);
      }
    }
    const response = await fetch(apiUrl(service, path, options.params), {
      method: options.method ?? (body === undefined ? "GET" : "POST"),
      headers,
      body,
      signal: options.signal,
      credentials: "omit",
    });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      if (response.status === 401 && options.auth !== false) this.onUnauthorized();
      throw new ApiError(response.status, problem);
    }
    if (response.status === 204) return undefined as T;
    const type = response.headers.get("content-type") ?? "";
    return (type.includes("json") ? await response.json() : await response.text()) as T;
  }

  /** A file the services serve behind the token (a thumbnail, an export): its bytes and the name it is given
   * (Content-Disposition's filename*, else filename). Shown as blob: URLs, downloaded through a link. */
  async file(service: Service, path: string, params?: Params, signal?: AbortSignal): Promise<{ blob: Blob; filename: string | null }> {
    const response = await fetch(apiUrl(service, path, params), {
      headers: { Accept: "*/*", ...this.authHeaders() },
      signal,
      credentials: "omit",
    });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      if (response.status === 401) this.onUnauthorized();
      throw new ApiError(response.status, problem);
    }
    const disposition = response.headers.get("content-disposition") ?? "";
    const encoded = /filename\*=UTF-8''([^;]+)/i.exec(disposition)?.[1];
    const plain = /filename="([^"]+)"/i.exec(disposition)?.[1];
    return { blob: await response.blob(), filename: encoded ? decodeURIComponent(encoded) : plain ?? null };
  }

  get<T>(service: Service, path: string, params?: Params, signal?: AbortSignal): Promise<T> {
    return this.request<T>(service, path, { params, signal });
  }

  post<T>(service: Service, path: string, body: unknown, options: RequestOptions = {}): Promise<T> {
    return this.request<T>(service, path, { ...options, method: "POST", body });
  }

  put<T>(service: Service, path: string, body: unknown, options: RequestOptions = {}): Promise<T> {
    return this.request<T>(service, path, { ...options, method: "PUT", body });
  }
}
