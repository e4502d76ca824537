// Every page of the console, in one list. Add a page: a module under pages/ whose default export renders it,
// and a line here (its path, title, who may open it, and a nav label if it belongs in the header).
// The centre's roles have the map, the boards, the queues, the case page and the 红黑榜 (ECharts, in its own
// chunk); the grid worker's app is its own entry (a PWA).

import { CENTRE } from "./api/session";
import type { RouteDef } from "./router";

export const ROUTES: RouteDef[] = [
  { path: "/signin", title: "登录", public: true, layout: "bare", load: () => import("./pages/signin") },
  { path: "/map", title: "亮灯地图", roles: CENTRE, nav: "亮灯地图", load: () => import("./pages/map") },
  // The supervisor console (issue 16, item 3): boards, the centre's queues, the case page, the 红黑榜.
  { path: "/boards", title: "督办看板", roles: CENTRE, nav: "督办看板", load: () => import("./pages/boards") },
  { path: "/queues", title: "中心队列", roles: CENTRE, nav: "中心队列", load: () => import("./pages/queues") },
  { path: "/cases/:id", title: "案件详情", roles: CENTRE, load: () => import("./pages/case") },
  { path: "/rankings", title: "红黑榜", roles: CENTRE, nav: "红黑榜", load: () => import("./pages/rankings") },
  { path: "/", title: "首页", load: () => import("./pages/home") },
];

/** Where a role lands after signing in. */
export function homeOf(role: string): string {
  return (CENTRE as string[]).includes(role) ? "/map" : "/";
}
