// Words of the grid-worker app (zh-CN), beside the console's (../i18n.ts, whose phase, level and urgency names
// it reuses).

export const W = {
  appName: "网格员",
  myCases: "我的案件",
  report: "上报事件",
  queue: "待发送",
  online: "在线",
  offline: "离线",
  offlineNote: "当前离线：操作会先保存在本机，联网后自动按顺序发送。",
  savedAt: "本机保存于",
  noCases: "暂无分派给您的在办案件。",
  otherCases: "本网格其他在办案件",
  pendingReports: "尚未送达的上报",
  signOut: "退出",
  updateReady: "网格员有新版本。",
  update: "立即更新",
  offlineReady: "已可离线使用",
};

export const STATUS_NAMES: Record<string, string> = {
  received: "已受理",
  assigned: "待签收",
  in_progress: "办理中",
  suspended: "已挂起",
  returned: "已退回",
  pending_verification: "待核查",
  closed: "已结案",
  visited: "已回访",
  merged: "已合并",
  rejected: "不予立案",
};

/** Timeline entries (intake's actions and what routing and the centre did). */
export const TIMELINE_NAMES: Record<string, string> = {
  received: "受理",
  assigned: "派遣",
  reassigned: "改派",
  unroutable: "待人工派遣",
  sign: "签收",
  progress: "进展",
  return: "退单",
  refer_up: "上报上级",
  request_extension: "申请延期",
  decide_extension: "延期审批",
  request_suspension: "申请挂起",
  decide_suspension: "挂起审批",
  suspend: "挂起",
  resume: "恢复办理",
  submit_result: "办结反馈",
  verify: "核查",
  close: "结案",
  visit: "回访",
  reopen: "重办",
  merge: "合并",
  reject: "不予立案",
  urge: "催办",
  attach: "上传附件",
  attach_failed: "附件获取失败",
  publish: "公开答复",
};

/** The actions of this app, as a grid worker takes them. */
export const ACTION_NAMES: Record<string, string> = {
  sign: "签收",
  progress: "进展",
  refer_up: "上报",
  return: "退单",
  submit_result: "办结",
};

/** 退单 reasons of the field's list (intake reads the kind from these words, domain/model.py RETURN_WORDS). */
export const RETURN_REASONS: { words: string; kind: string; hint: string }[] = [
  { words: "非本辖区", kind: "not_our_area", hint: "事发地不在本网格" },
  { words: "非本单位职责", kind: "not_our_duty", hint: "应由其他部门处置" },
  { words: "信息不全", kind: "incomplete", hint: "地址或内容无法核实" },
  { words: "重复", kind: "duplicate", hint: "已有相同案件" },
  { words: "其他", kind: "other", hint: "退回上一级" },
];

export const QUEUE_STATUS_NAMES: Record<string, string> = {
  pending: "待发送",
  sending: "发送中",
  sent: "已送达",
  failed: "发送失败",
};

/** "2小时5分" from seconds (negative: overdue). */
export function duration(seconds: number): string {
  const total = Math.round(Math.abs(seconds) / 60);
  const days = Math.floor(total / 1440);
  const hours = Math.floor((total % 1440) / 60);
  const minutes = total % 60;
  if (days) return `${days}天${hours}小时`;
  if (hours) return `${hours}小时${minutes}分`;
  return `${minutes}分钟`;
}
