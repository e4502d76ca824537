import "./styles/base.css";

import { App } from "./app";
import { takeTokenFromFragment } from "./api/session";
import { loadConfig } from "./config";

async function boot(): Promise<void> {
  performance.mark("console-boot");
  const config = await loadConfig();
  const root = document.getElementById("app")!;
  const app = new App(config, root);
  // The city's sign-on hands the token over in the fragment (#access_token=…): take it, then land on the page.
  const handed = takeTokenFromFragment();
  if (handed) {
    try {
      app.signIn(handed, new URLSearchParams(window.location.search).get("next"));
      return;
    } catch {
      app.notice = "统一身份认证返回的令牌无效，请重新登录。";
    }
  }
  await app.render();
}

void boot();
