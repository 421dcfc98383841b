// The console's words in English and Simplified Chinese. The language
// follows the browser's until one is chosen in the header, and the choice
// is remembered in this browser.

const WORDS = {
  en: {
    "nav.calendars": "Calendars", "cal.title": "Calendars",
    "cal.about": "Times in which the tasks naming a calendar do not fire: slots it excludes are skipped, not counted as misfires. A calendar on a base excludes what both exclude.",
    "cal.kind": "Kind", "cal.excludes": "Excludes", "cal.base": "Base", "cal.zone": "Zone", "cal.time_zone": "Time zone",
    "cal.name": "Name", "cal.description": "Description", "cal.taskZone": "the task's",
    "cal.kind.annual": "annual (days of the year)", "cal.kind.holiday": "holiday (dates)", "cal.kind.monthly": "monthly (days of the month)",
    "cal.kind.weekly": "weekly (days of the week)", "cal.kind.daily": "daily (a time range)", "cal.kind.cron": "cron (matching times)",
    "cal.example": "For example: {example}", "cal.baseHint": "A calendar that excludes more (optional)",
    "cal.zoneHint": "IANA zone; empty: the zone of the task using it", "cal.add": "Add or replace a calendar",
    "cal.save": "Save calendar", "cal.saved": "Calendar {name} saved.", "cal.removed": "Calendar {name} removed.",
    "cal.confirmRemove": "Remove calendar {name}?", "cal.none": "No calendar yet.", "cal.nameNeeded": "A calendar needs a name.",
    "tasks.new": "New task", "task.edit": "Edit",
    "editor.basics": "Basics", "editor.running": "How it runs", "editor.window": "When it may fire, how long runs are kept",
    "editor.grants": "What it may reach", "editor.params": "Params", "editor.create": "Create task",
    "editor.save": "Save changes", "editor.cancel": "Cancel", "editor.newTitle": "New task",
    "editor.editTitle": "Edit {name}", "editor.created": "Task {name} created.", "editor.saved": "Saved.",
    "editor.viewerOnly": "Changing tasks needs the editor or admin role.",
    "hint.name": "Letters, digits, - _ . (unique)", "hint.module": "A module's name in the plugins folder or the database, or `http`",
    "hint.schedule": "Quartz cron (`0 */5 * * * ?`), `every 30s`, `at 2026-12-24T18:00:00Z` or `after 10m`",
    "hint.time_zone": "IANA zone, e.g. Asia/Shanghai (default UTC)", "hint.shard_total": "How many shards each fire runs (default 1)",
    "hint.shard_params": "Per shard: `0=Beijing,1=Shanghai`", "hint.misfire": "`fire-now`, `skip`, `catch-up` or `catch-up:N`",
    "hint.timeout_ms": "Per run, in ms", "hint.memory_mib": "Per run, in MiB", "hint.selector": "Node labels, e.g. `region=eu`",
    "hint.allowed_hosts": "`https://api.example.com`, comma separated", "hint.secrets": "Secret names, comma separated",
    "hint.mounts": "Mount names from the host config", "hint.databases": "Database names from the host config",
    "hint.calendar": "A calendar's name: its excluded times are skipped",
    "hint.keep_runs": "Keep at most this many finished runs", "hint.params": "One NAME=VALUE per line",
    "nav.delays": "Delays", "nav.modules": "Modules", "nav.misfires": "Misfires", "nav.audit": "Audit", "nav.access": "Access",
    "modules.title": "Modules", "modules.about": "Job modules stored in the database (uploaded, or loaded from a plugins folder). Every host loads an upload within a heartbeat.",
    "modules.file": ".wasm component", "modules.name": "Module name", "modules.upload": "Upload",
    "modules.uploaded": "Module {name} stored ({digest}…).", "modules.digest": "Digest", "modules.size": "Size",
    "modules.source": "Source", "modules.updated": "Updated", "modules.usedBy": "Used by", "modules.remove": "Remove",
    "modules.confirmRemove": "Remove module {name}? Tasks that use it will fail until it is back.", "modules.none": "No module is stored yet.",
    "delays.title": "Delay tasks", "delays.topic": "Topic", "delays.key": "Key", "delays.due": "Due",
    "delays.callback": "Callback", "delays.last": "Last answer", "delays.none": "No delay task matches.",
    "misfires.title": "Misfires", "misfires.first": "First missed slot", "misfires.last": "Last missed slot",
    "misfires.missed": "Missed", "misfires.policy": "Policy", "misfires.recorded": "Recorded", "misfires.none": "No misfires recorded.",
    "audit.title": "Audit log", "audit.at": "When", "audit.actor": "Who", "audit.action": "Action", "audit.target": "What",
    "audit.change": "Change", "audit.show": "Before / after", "audit.before": "Before", "audit.after": "After", "audit.none": "Nothing has been changed through the API yet.",
    "access.title": "Users and tokens", "access.adminOnly": "Only admins manage users and tokens.", "access.users": "Console users",
    "access.tokens": "API tokens", "access.role": "Role", "access.groups": "Task groups", "access.allGroups": "all groups",
    "access.created": "Created", "access.lastLogin": "Last sign-in", "access.addUser": "Add user", "access.userAdded": "User {name} added.",
    "access.confirmRemove": "Remove user {name}? Their sessions end.", "access.expiresIn": "Expires in", "access.addToken": "Create token",
    "access.tokenOnce": "The new token, shown this once; keep it now:", "access.expires": "Expires", "access.lastUsed": "Last used",
    "access.revoke": "Revoke", "access.confirmRevoke": "Revoke token {name}? Programs using it lose access at once.",
    "nav.dashboard": "Dashboard", "nav.tasks": "Tasks", "nav.runs": "Runs", "nav.nodes": "Nodes",
    "logout": "Sign out", "login.title": "Sign in to Carillon", "login.name": "User name",
    "login.password": "Password", "login.submit": "Sign in",
    "login.hint": "Users are made with `carillon user add NAME --role admin` (it reads the password from stdin).",
    "local": "this machine (no users yet)",
    "role.viewer": "viewer", "role.operator": "operator", "role.editor": "editor", "role.admin": "admin",
    "dash.title": "Dashboard", "dash.tasks": "Tasks", "dash.running": "Running now",
    "dash.failed": "Failed in 24 h", "dash.misfires": "Misfires in 24 h", "dash.nodes": "Live nodes",
    "dash.recentFailures": "Recent failures", "dash.noFailures": "No failed runs in the last 24 hours.",
    "dash.recent": "Latest runs", "dash.lateness": "Start lateness, last 200 runs",
    "dash.p50": "p50", "dash.p99": "p99",
    "dash.day": "24 h", "dash.week": "7 days", "dash.span": "Chart span",
    "dash.chartDay": "{n} runs in the last 24 hours", "dash.chartWeek": "{n} runs in the last 7 days",
    "tasks.title": "Tasks", "tasks.search": "Search by name", "tasks.group": "Group",
    "tasks.module": "Module", "tasks.state": "State", "tasks.any": "Any", "tasks.none": "No task matches.",
    "tasks.count": "{n} tasks", "tasks.countOne": "1 task", "tasks.countCapped": "more than {n} tasks",
    "tasks.noneToAct": "No task the filter matches needs that.",
    "tasks.selected": "{n} selected:", "tasks.select": "Select {name}", "tasks.selectPage": "Select every task on this page",
    "bulk.pause": "Pause", "bulk.resume": "Resume", "bulk.trigger": "Trigger now", "bulk.delete": "Delete",
    "col.name": "Name", "col.group": "Group", "col.module": "Module", "col.schedule": "Schedule",
    "col.next": "Next fire", "col.last": "Last run", "col.recent": "Recent runs", "col.state": "State",
    "col.id": "Run", "col.task": "Task", "col.slot": "Slot", "col.started": "Started",
    "col.took": "Took", "col.node": "Node", "col.attempt": "Attempt", "col.summary": "Summary / error",
    "col.labels": "Labels", "col.heartbeat": "Heartbeat", "col.held": "Held / capacity",
    "col.since": "Up since", "col.alive": "Status",
    "more": "Next page", "first": "First page", "never": "never", "none": "—",
    "task.trigger": "Trigger now", "task.pause": "Pause", "task.resume": "Resume",
    "task.delete": "Delete", "task.confirmDelete": "Delete task {name} and stop its schedule? Its runs stay until retention removes them.",
    "task.triggered": "Triggered: {n} run(s) queued.", "task.paused": "Paused.", "task.resumed": "Resumed.",
    "task.deleted": "Task {name} deleted.", "task.details": "Settings", "task.nextTimes": "Next fire times",
    "task.runs": "Runs", "task.params": "Params for this run (one NAME=VALUE per line)",
    "task.error": "This task has an error",
    "runs.title": "Runs", "runs.task": "Task", "runs.state": "State", "runs.node": "Node",
    "runs.none": "No run matches.", "runs.from": "From", "runs.to": "To",
    "runs.select": "Select run {id}", "runs.selectPage": "Select every run on this page",
    "runs.cancelMatching": "Cancel all that match", "runs.retryMatching": "Retry all that match",
    "runs.count": "{n} runs", "runs.countOne": "1 run",
    "runs.noCancel": "None of these runs is pending or running: nothing to cancel.",
    "runs.noRetry": "None of these runs failed, timed out, was orphaned or cancelled: nothing to retry.",
    "run.title": "Run {id}", "run.context": "Context", "run.log": "Log", "run.live": "live",
    "run.ended": "ended: {state}", "run.cancel": "Cancel", "run.retry": "Retry",
    "run.cancelled": "Asked to stop: {outcome}.", "run.retried": "Retried: the run waits for a host to take it.",
    "run.level": "Level", "run.noLines": "No log lines.", "run.shard": "Shard", "run.shardOf": "{i} of {n}", "run.page": "Page",
    "run.digest": "Module digest", "run.scheduled": "Scheduled for", "run.finished": "Finished",
    "run.items": "Items", "run.outcome": "Outcome",
    "nodes.title": "Nodes", "nodes.alive": "alive", "nodes.dead": "silent", "nodes.none": "No node has reported.",
    "filter": "Filter", "pages": "Pages", "clear": "Clear", "refresh": "Refresh", "all": "All",
    "err.load": "Could not load this page: {message}", "err.notFound": "There is no such page.",
    "ago.s": "{n} s ago", "ago.m": "{n} min ago", "ago.h": "{n} h ago", "ago.d": "{n} d ago",
    "in.s": "in {n} s", "in.m": "in {n} min", "in.h": "in {n} h", "in.d": "in {n} d",
  },
  zh: {
    "nav.calendars": "日历", "cal.title": "日历",
    "cal.about": "引用日历的任务在日历排除的时间内不触发：被排除的时间点直接跳过，不计为错过触发。带基础日历时，两者排除的时间都会排除。",
    "cal.kind": "类型", "cal.excludes": "排除", "cal.base": "基础日历", "cal.zone": "时区", "cal.time_zone": "时区",
    "cal.name": "名称", "cal.description": "说明", "cal.taskZone": "任务的时区",
    "cal.kind.annual": "年度（每年的某几天）", "cal.kind.holiday": "节假日（日期）", "cal.kind.monthly": "每月（某几号）",
    "cal.kind.weekly": "每周（星期几）", "cal.kind.daily": "每天（时间段）", "cal.kind.cron": "cron（匹配的时间）",
    "cal.example": "例如：{example}", "cal.baseHint": "再排除更多时间的日历（可选）",
    "cal.zoneHint": "IANA 时区；留空则用引用它的任务的时区", "cal.add": "添加或替换日历",
    "cal.save": "保存日历", "cal.saved": "日历 {name} 已保存。", "cal.removed": "日历 {name} 已删除。",
    "cal.confirmRemove": "删除日历 {name}？", "cal.none": "还没有日历。", "cal.nameNeeded": "日历需要名称。",
    "tasks.new": "新建任务", "task.edit": "编辑",
    "editor.basics": "基本", "editor.running": "运行方式", "editor.window": "触发时间窗口与记录保留",
    "editor.grants": "可访问的资源", "editor.params": "参数", "editor.create": "创建任务",
    "editor.save": "保存修改", "editor.cancel": "取消", "editor.newTitle": "新建任务",
    "editor.editTitle": "编辑 {name}", "editor.created": "任务 {name} 已创建。", "editor.saved": "已保存。",
    "editor.viewerOnly": "修改任务需要编辑或管理员角色。",
    "hint.name": "字母、数字、- _ .（唯一）", "hint.module": "插件目录或数据库中的模块名，或 `http`",
    "hint.schedule": "Quartz cron（`0 */5 * * * ?`）、`every 30s`、`at 2026-12-24T18:00:00Z` 或 `after 10m`",
    "hint.time_zone": "IANA 时区，如 Asia/Shanghai（默认 UTC）", "hint.shard_total": "每次触发运行的分片数（默认 1）",
    "hint.shard_params": "每个分片的参数：`0=Beijing,1=Shanghai`", "hint.misfire": "`fire-now`、`skip`、`catch-up` 或 `catch-up:N`",
    "hint.timeout_ms": "每次运行，毫秒", "hint.memory_mib": "每次运行，MiB", "hint.selector": "节点标签，如 `region=eu`",
    "hint.allowed_hosts": "`https://api.example.com`，逗号分隔", "hint.secrets": "密钥名，逗号分隔",
    "hint.mounts": "主机配置中的挂载名", "hint.databases": "主机配置中的数据库名",
    "hint.calendar": "日历名：跳过其排除的时间",
    "hint.keep_runs": "最多保留的已结束运行数", "hint.params": "每行一个 名称=值",
    "nav.delays": "延时任务", "nav.modules": "模块", "nav.misfires": "错过触发", "nav.audit": "审计", "nav.access": "访问控制",
    "modules.title": "模块", "modules.about": "存储在数据库中的作业模块（上传的，或从插件目录加载的）。上传后每台主机会在一个心跳内加载。",
    "modules.file": ".wasm 组件", "modules.name": "模块名", "modules.upload": "上传",
    "modules.uploaded": "模块 {name} 已存储（{digest}…）。", "modules.digest": "摘要", "modules.size": "大小",
    "modules.source": "来源", "modules.updated": "更新于", "modules.usedBy": "使用它的任务", "modules.remove": "删除",
    "modules.confirmRemove": "删除模块 {name}？使用它的任务将失败，直到它重新上传。", "modules.none": "还没有存储任何模块。",
    "delays.title": "延时任务", "delays.topic": "主题", "delays.key": "键", "delays.due": "到期",
    "delays.callback": "回调", "delays.last": "上次应答", "delays.none": "没有匹配的延时任务。",
    "misfires.title": "错过触发", "misfires.first": "首个错过的时间", "misfires.last": "最后错过的时间",
    "misfires.missed": "错过次数", "misfires.policy": "策略", "misfires.recorded": "记录于", "misfires.none": "没有错过触发的记录。",
    "audit.title": "审计日志", "audit.at": "时间", "audit.actor": "操作者", "audit.action": "操作", "audit.target": "对象",
    "audit.change": "变更", "audit.show": "变更前 / 后", "audit.before": "变更前", "audit.after": "变更后", "audit.none": "还没有通过 API 做过修改。",
    "access.title": "用户与令牌", "access.adminOnly": "只有管理员可以管理用户和令牌。", "access.users": "控制台用户",
    "access.tokens": "API 令牌", "access.role": "角色", "access.groups": "任务分组", "access.allGroups": "全部分组",
    "access.created": "创建于", "access.lastLogin": "上次登录", "access.addUser": "添加用户", "access.userAdded": "用户 {name} 已添加。",
    "access.confirmRemove": "删除用户 {name}？其会话将结束。", "access.expiresIn": "有效期", "access.addToken": "创建令牌",
    "access.tokenOnce": "新令牌只显示这一次，请立即保存：", "access.expires": "过期", "access.lastUsed": "上次使用",
    "access.revoke": "吊销", "access.confirmRevoke": "吊销令牌 {name}？使用它的程序将立即失去访问权限。",
    "nav.dashboard": "概览", "nav.tasks": "任务", "nav.runs": "运行记录", "nav.nodes": "节点",
    "logout": "退出登录", "login.title": "登录 Carillon", "login.name": "用户名",
    "login.password": "密码", "login.submit": "登录",
    "login.hint": "用 `carillon user add 用户名 --role admin` 创建用户（密码从标准输入读取）。",
    "local": "本机（尚无用户）",
    "role.viewer": "只读", "role.operator": "运维", "role.editor": "编辑", "role.admin": "管理员",
    "dash.title": "概览", "dash.tasks": "任务数", "dash.running": "正在运行",
    "dash.failed": "24 小时内失败", "dash.misfires": "24 小时内错过触发", "dash.nodes": "在线节点",
    "dash.recentFailures": "最近的失败", "dash.noFailures": "最近 24 小时没有失败的运行。",
    "dash.recent": "最新运行", "dash.lateness": "启动延迟（最近 200 次运行）",
    "dash.p50": "中位数", "dash.p99": "p99",
    "dash.day": "24 小时", "dash.week": "7 天", "dash.span": "图表时间范围",
    "dash.chartDay": "最近 24 小时共 {n} 次运行", "dash.chartWeek": "最近 7 天共 {n} 次运行",
    "tasks.title": "任务", "tasks.search": "按名称搜索", "tasks.group": "分组",
    "tasks.module": "模块", "tasks.state": "状态", "tasks.any": "全部", "tasks.none": "没有匹配的任务。",
    "tasks.count": "共 {n} 个任务", "tasks.countOne": "共 1 个任务", "tasks.countCapped": "超过 {n} 个任务",
    "tasks.noneToAct": "筛选出的任务都不需要此操作。",
    "tasks.selected": "已选 {n} 个：", "tasks.select": "选择 {name}", "tasks.selectPage": "选择本页全部任务",
    "bulk.pause": "暂停", "bulk.resume": "恢复", "bulk.trigger": "立即触发", "bulk.delete": "删除",
    "col.name": "名称", "col.group": "分组", "col.module": "模块", "col.schedule": "调度",
    "col.next": "下次触发", "col.last": "上次运行", "col.recent": "最近运行", "col.state": "状态",
    "col.id": "运行", "col.task": "任务", "col.slot": "计划时间", "col.started": "开始",
    "col.took": "耗时", "col.node": "节点", "col.attempt": "尝试", "col.summary": "摘要 / 错误",
    "col.labels": "标签", "col.heartbeat": "心跳", "col.held": "占用 / 容量",
    "col.since": "启动于", "col.alive": "状态",
    "more": "下一页", "first": "第一页", "never": "从未", "none": "—",
    "task.trigger": "立即触发", "task.pause": "暂停", "task.resume": "恢复",
    "task.delete": "删除", "task.confirmDelete": "删除任务 {name} 并停止其调度？其运行记录会保留到清理期限。",
    "task.triggered": "已触发：{n} 个运行已排队。", "task.paused": "已暂停。", "task.resumed": "已恢复。",
    "task.deleted": "任务 {name} 已删除。", "task.details": "设置", "task.nextTimes": "接下来的触发时间",
    "task.runs": "运行记录", "task.params": "本次运行的参数（每行一个 名称=值）",
    "task.error": "此任务有错误",
    "runs.title": "运行记录", "runs.task": "任务", "runs.state": "状态", "runs.node": "节点",
    "runs.none": "没有匹配的运行。", "runs.from": "从", "runs.to": "到",
    "runs.select": "选择运行 {id}", "runs.selectPage": "选择本页全部运行",
    "runs.cancelMatching": "取消全部匹配的运行", "runs.retryMatching": "重试全部匹配的运行",
    "runs.count": "{n} 个运行", "runs.countOne": "1 个运行",
    "runs.noCancel": "这些运行都不在等待或运行中：没有可取消的。",
    "runs.noRetry": "这些运行都没有失败、超时、失联或被取消：没有可重试的。",
    "run.title": "运行 {id}", "run.context": "上下文", "run.log": "日志", "run.live": "实时",
    "run.ended": "已结束：{state}", "run.cancel": "取消", "run.retry": "重试",
    "run.cancelled": "已请求停止：{outcome}。", "run.retried": "已重试：等待主机领取。",
    "run.level": "级别", "run.noLines": "没有日志。", "run.shard": "分片", "run.shardOf": "第 {i} 个（共 {n} 个）", "run.page": "页",
    "run.digest": "模块摘要", "run.scheduled": "计划于", "run.finished": "结束于",
    "run.items": "条目", "run.outcome": "结果",
    "nodes.title": "节点", "nodes.alive": "在线", "nodes.dead": "无响应", "nodes.none": "还没有节点上报。",
    "filter": "筛选", "pages": "分页", "clear": "清除", "refresh": "刷新", "all": "全部",
    "err.load": "无法加载此页面：{message}", "err.notFound": "没有这个页面。",
    "ago.s": "{n} 秒前", "ago.m": "{n} 分钟前", "ago.h": "{n} 小时前", "ago.d": "{n} 天前",
    "in.s": "{n} 秒后", "in.m": "{n} 分钟后", "in.h": "{n} 小时后", "in.d": "{n} 天后",
  },
};

// Run and task states, as the API names them.
const STATES = {
  en: {},
  zh: {
    pending: "等待中", running: "运行中", succeeded: "成功", failed: "失败", "timed-out": "超时",
    cancelled: "已取消", orphaned: "失联", skipped: "已跳过", active: "启用", paused: "已暂停",
    error: "错误", finished: "已结束", delivering: "投递中",
  },
};

const KEY = "carillon.lang";

function browserLanguage() {
  const asked = navigator.languages || [navigator.language || "en"];
  return asked.some((l) => l.toLowerCase().startsWith("zh")) &&
    !asked.slice(0, asked.findIndex((l) => l.toLowerCase().startsWith("zh")))
      .some((l) => l.toLowerCase().startsWith("en"))
    ? "zh" : "en";
}

let current = (() => {
  const kept = localStorage.getItem(KEY);
  return kept in WORDS ? kept : browserLanguage();
})();

export function language() {
  return current;
}

export function setLanguage(lang) {
  if (!(lang in WORDS)) return;
  current = lang;
  localStorage.setItem(KEY, lang);
}

/** The words for `key`, with `{name}` replaced from `vars`. */
export function t(key, vars = {}) {
  const text = WORDS[current][key] ?? WORDS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** A state's name in the current language. */
export function stateName(state) {
  return STATES[current][state] ?? state;
}
