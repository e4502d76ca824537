// Words the console shows, Chinese (zh-CN) first. One place, so another language is a second table, not a hunt.

export const LOCALE = "zh-CN";
export const TIME_ZONE = "Asia/Shanghai";

export const ROLE_NAMES: Record<string, string> = {
  supervisor: "督办员（指挥中心）",
  leader: "领导",
  admin: "系统管理员",
  street: "街道",
  community: "社区",
  department: "职能部门",
  gridworker: "网格员",
};

export const PHASE_NAMES: Record<string, string> = { sign: "签收", handle: "办理", verify: "核查" };

export const LEVEL_NAMES: Record<string, string> = {
  none: "未督办",
  reminder: "提醒",
  yellow_card: "黄牌督办",
  red_card: "红牌督办",
  leader: "挂牌督办（领导督办）",
};

export const URGENCY_NAMES: Record<string, string> = { normal: "一般", urgent: "紧急", emergency: "特急" };

/** Names of the events on the live alert stream (notifications GET /v1/alerts/stream). */
export const EVENT_NAMES: Record<string, string> = {
  "supervision.light.changed": "亮灯",
  "supervision.escalation.raised": "督办",
  "intake.incident.urged": "催办",
  "routing.incident.assigned": "协办派单",
  "centre.unroutable": "待派遣",
  "centre.second_return": "二次退单待终审",
  "centre.extension_requested": "延期申请待审批",
  "centre.suspension_requested": "挂起申请待审批",
  "centre.emergency_reported": "特急案件",
  "centre.urged": "催办",
};

export const T = {
  appName: "网格督办台",
  appSubtitle: "网格化社会治理",
  signIn: "登录",
  signOut: "退出登录",
  signedInAs: "当前用户",
  area: "辖区",
  wholeCity: "全市",
  mapTitle: "亮灯地图",
  legend: "图例",
  litGrids: "亮灯网格",
  noLitGrids: "辖区内暂无黄灯或红灯网格。",
  alertFeed: "实时告警",
  noAlerts: "暂无告警，新的告警会实时出现在这里。",
  streamConnecting: "正在连接实时告警…",
  streamOpen: "实时告警已连接",
  streamReconnecting: "连接中断，正在重连…",
  streamClosed: "实时告警已断开",
  streamForbidden: "当前角色不接收实时告警",
  loading: "正在加载…",
  loadFailed: "加载失败",
  retry: "重试",
  lastUpdated: "更新于",
  openCases: "在办案件",
  notFound: "页面不存在",
  forbidden: "当前角色无权访问此页面",
  sessionExpired: "登录已过期，请重新登录。",
};

const timeFormat = new Intl.DateTimeFormat(LOCALE, {
  timeZone: TIME_ZONE,
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hour12: false,
});

/** A moment as the centre reads it (Shanghai time). */
export function formatTime(value: string | number | Date | undefined | null): string {
  if (value === undefined || value === null || value === "") return "";
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : timeFormat.format(date);
}

export function roleName(role: string): string {
  return ROLE_NAMES[role] ?? role;
}

export function areaName(area: string[]): string {
  return area.map((code) => (code === "" ? T.wholeCity : code)).join("、");
}

// ---- the supervisor console's words (issue 16, item 3): the case record, queues, deliveries, the 红黑榜

/** intake's case statuses (DOMAIN.md §4). */
export const STATUS_NAMES: Record<string, string> = {
  received: "已受理",
  assigned: "已派遣",
  in_progress: "办理中",
  suspended: "已挂起",
  returned: "已退单",
  pending_verification: "待核查",
  closed: "已结案",
  visited: "已回访",
  merged: "已合并",
  rejected: "不予受理",
};

/** Why a case waits in the command centre's queue (routing's IncidentUnroutable.queue). */
export const QUEUE_NAMES: Record<string, string> = {
  unplaced: "无法定位或无责任单位",
  final_dispatch: "二次退单待终审",
  to_complete: "信息不全待补充",
  to_merge: "重复件待合并",
  dispatch: "待派遣",
};

/** Timeline entries of the case record, as the centre calls them. */
export const TIMELINE_NAMES: Record<string, string> = {
  report: "上报",
  receive: "受理",
  received: "受理",
  assigned: "派遣",
  reassigned: "改派",
  unroutable: "进入中心待派遣队列",
  sign: "签收",
  progress: "办理进展",
  return: "退单",
  refer_up: "上报上级",
  request_extension: "申请延期",
  decide_extension: "延期审批",
  request_suspension: "申请挂起",
  decide_suspension: "挂起审批",
  suspend: "挂起",
  resume: "恢复办理",
  submit_result: "提交办结",
  verify: "核查",
  close: "结案",
  visit: "回访",
  reopen: "重办",
  merge: "合并",
  reject: "不予受理",
  urge: "催办",
  publish: "公开",
  attach: "上传附件",
  return_decision: "12345 退单裁定",
};

export const ASSIGNMENT_NAMES: Record<string, string> = {
  assigned: "派遣",
  reassigned: "改派（规则）",
  unroutable: "转中心待派遣",
  dispatched: "中心派遣/改派",
};

export const UNIT_KIND_NAMES: Record<string, string> = {
  district: "区",
  street: "街道",
  community: "社区",
  grid: "网格",
  department: "职能部门",
  unit: "单位",
};

export const CHANNEL_NAMES: Record<string, string> = { sms: "短信", email: "邮件", webhook: "12345 回传", sse: "实时告警" };
export const DELIVERY_STATUS_NAMES: Record<string, string> = {
  pending: "待发送",
  sent: "已发送",
  failed: "发送失败（重试中）",
  dead: "发送失败",
};
export const SOURCE_NAMES: Record<string, string> = {
  gridworker: "网格员上报",
  patrol: "巡查发现",
  supervisor: "指挥中心",
  sensor: "感知设备",
  hotline: "12345 热线",
  public: "群众上报",
  open311: "群众上报",
};

const dateFormat = new Intl.DateTimeFormat(LOCALE, {
  timeZone: TIME_ZONE,
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  hour12: false,
});

/** A moment with its year (the case record, the queues). */
export function formatDateTime(value: string | null | undefined): string {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : dateFormat.format(date);
}

/** A span of time in words: "2 天 3 小时 5 分" (natural days), or in working days of `daySeconds` (7 h) each. */
export function formatSpan(seconds: number, daySeconds = 86400, dayWord = "天"): string {
  const total = Math.max(0, Math.round(Math.abs(seconds)));
  const days = Math.floor(total / daySeconds);
  const hours = Math.floor((total % daySeconds) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const parts = [days ? `${days} ${dayWord}` : "", hours ? `${hours} 小时` : "", `${minutes} 分`];
  if (total < 60) return `${total} 秒`;
  return parts.filter(Boolean).join(" ");
}

/** A rate as the centre reads it: "85.7%"; no denominator: "—". */
export function formatRate(rate: number | null | undefined): string {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)}%`;
}
