// Every page of the grid-worker app (paths under /worker/).

import type { WorkerRoute } from "./router";

export const ROUTES: WorkerRoute[] = [
  { path: "/signin", title: "登录", public: true, load: () => import("./pages/signin") },
  { path: "/", title: "我的案件", load: () => import("./pages/cases") },
  { path: "/cases/:id", title: "案件", load: () => import("./pages/case") },
  { path: "/report", title: "上报事件", load: () => import("./pages/report") },
  { path: "/queue", title: "待发送", load: () => import("./pages/queue") },
];
