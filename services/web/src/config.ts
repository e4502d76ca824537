// Deployment settings the console reads at start from /config.json (nginx renders it from its environment:
// deploy/nginx/grid-web.conf.template). Nothing here is secret; the front end holds no secret.

export interface WebConfig {
  /** Base-map tiles (Leaflet URL template, e.g. 天地图's WMTS; CGCS2000 needs no GCJ-02 shift). Empty: grid
   * outlines on a plain background, and no request leaves this origin. */
  tileUrl: string;
  tileAttribution: string;
  /** `{s}` values of the tile URL, e.g. "01234567" for 天地图's t0…t7. */
  tileSubdomains: string;
  /** The development sign-in picker (supervision's POST /v1/dev/token), on dev and test stacks only. */
  devSignIn: boolean;
  /** The city's sign-on page; it hands the console a JWT in the URL fragment (#access_token=…). */
  signOnUrl: string;
}

export const DEFAULT_CONFIG: WebConfig = {
  tileUrl: "",
  tileAttribution: "",
  tileSubdomains: "",
  devSignIn: import.meta.env.DEV, // `npm run dev` against the local (dev) stack
  signOnUrl: "",
};

export async function loadConfig(): Promise<WebConfig> {
  try {
    const response = await fetch("/config.json", { cache: "no-store", headers: { Accept: "application/json" } });
    if (!response.ok) return DEFAULT_CONFIG;
    const given = (await response.json()) as Partial<WebConfig>;
    return {
      tileUrl: typeof given.tileUrl === "string" ? given.tileUrl : "",
      tileAttribution: typeof given.tileAttribution === "string" ? given.tileAttribution : "",
      tileSubdomains: typeof given.tileSubdomains === "string" ? given.tileSubdomains : "",
      devSignIn: given.devSignIn === true,
      signOnUrl: typeof given.signOnUrl === "string" ? given.signOnUrl : "",
    };
  } catch {
    return DEFAULT_CONFIG;
  }
}
