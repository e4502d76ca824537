// The signed-in caller: the bearer token and the claims it names (DESIGN §5: sub, role, area, unit, exp).
// Kept in sessionStorage (this tab only, gone when it closes). The console never checks a signature: the
// services do, on every request; the claims here only shape what is shown.

export type Role = "gridworker" | "department" | "community" | "street" | "supervisor" | "leader" | "admin";
export const ROLES: Role[] = ["supervisor", "leader", "admin", "street", "community", "department", "gridworker"];
/** The command centre's roles: the map of lights and the live alert stream are theirs. */
export const CENTRE: Role[] = ["supervisor", "leader", "admin"];

export interface Claims {
  sub: string;
  role: Role;
  area: string[];
  unit?: string;
  exp: number;
  iat?: number;
}

const KEY = "grid.session.token";

export class InvalidToken extends Error {}

function base64UrlDecode(part: string): string {
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The claims of a JWT, read (not verified) so the console knows whom it shows; InvalidToken if not a JWT of ours. */
export function readClaims(token: string): Claims {
  const parts = token.trim().split(".");
  if (parts.length !== 3) throw new InvalidToken("不是有效的 JWT 令牌");
  let claims: Record<string, unknown>;
  try {
    claims = JSON.parse(base64UrlDecode(parts[1])) as Record<string, unknown>;
  } catch {
    throw new InvalidToken("令牌内容无法解析");
  }
  const { sub, role, area, unit, exp, iat } = claims;
  if (typeof sub !== "string" || typeof role !== "string" || !ROLES.includes(role as Role)) {
    throw new InvalidToken("令牌缺少 sub 或 role");
  }
  if (!Array.isArray(area) || !area.every((a) => typeof a === "string")) throw new InvalidToken("令牌缺少 area");
  if (typeof exp !== "number") throw new InvalidToken("令牌缺少 exp");
  return {
    sub,
    role: role as Role,
    area: area as string[],
    unit: typeof unit === "string" ? unit : undefined,
    exp,
    iat: typeof iat === "number" ? iat : undefined,
  };
}

export class Session {
  private constructor(
    readonly token: string,
    readonly claims: Claims,
  ) {}

  get expired(): boolean {
    return this.claims.exp * 1000 <= Date.now();
  }

  hasRole(...roles: Role[]): boolean {
    return roles.includes(this.claims.role);
  }

  /** Whether a grid code lies in the caller's area ("" is the whole city). */
  sees(code: string | null | undefined): boolean {
    return this.claims.area.some((prefix) => prefix === "" || (!!code && code.startsWith(prefix)));
  }

  static fromToken(token: string): Session {
    return new Session(token.trim(), readClaims(token));
  }

  static restore(): Session | null {
    const token = sessionStorage.getItem(KEY);
    if (!token) return null;
    try {
      const session = Session.fromToken(token);
      return session.expired ? null : session;
    } catch {
      sessionStorage.removeItem(KEY);
      return null;
    }
  }

  save(): void {
    sessionStorage.setItem(KEY, this.token);
  }

  static clear(): void {
    sessionStorage.removeItem(KEY);
  }
}

/** A token handed over in the URL fragment by the city's sign-on (#access_token=… or #token=…), taken once and
 * removed from the address bar and history. */
export function takeTokenFromFragment(): string | null {
  const fragment = new URLSearchParams(window.location.hash.replace(/^#/, ""));
  const token = fragment.get("access_token") ?? fragment.get("id_token") ?? fragment.get("token");
  if (!token) return null;
  history.replaceState(history.state, "", window.location.pathname + window.location.search);
  return token;
}
