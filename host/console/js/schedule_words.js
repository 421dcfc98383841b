// A schedule in words, for the editor's helper: Quartz cron fields read
// out ("at 09:30:00, Monday to Friday"), and `every`, `after`, `at` and
// `manual` schedules, in English or Chinese. The
// expression's validity and its fire times come from the API (the same
// parser the scheduler uses); this only phrases it, and gives up (null) on
// what it cannot phrase.

import { language } from "./i18n.js";

const DAYS = {
  en: ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
  zh: ["周日", "周一", "周二", "周三", "周四", "周五", "周六"],
};
const MONTHS = {
  en: ["January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December"],
  zh: ["1月", "2月", "3月", "4月", "5月", "6月", "7月", "8月", "9月", "10月", "11月", "12月"],
};
const DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const ORDINAL = { en: ["", "first", "second", "third", "fourth", "fifth"], zh: ["", "第一个", "第二个", "第三个", "第四个", "第五个"] };

const W = {
  en: {
    every: (unit) => `every ${unit}`, step: (n, unit, from) => `every ${n} ${unit}s${from ? ` from ${from}` : ""}`,
    range: (unit, a, b) => `${unit}s ${a} to ${b}`, list: (unit, xs) => `at ${unit}${xs.length > 1 ? "s" : ""} ${xs.join(", ")}`,
    at: (time) => `at ${time}`, dom: (xs) => `on day ${xs} of the month`, lastDay: "on the last day of the month",
    weekdayNear: (d) => `on the weekday nearest day ${d}`, lastWeekday: "on the last weekday of the month",
    inMonths: (xs) => `in ${xs}`, days: (xs) => `on ${xs}`, dayRange: (a, b) => `${a} to ${b}`,
    nth: (n, d) => `on the ${n} ${d} of the month`, lastOf: (d) => `on the last ${d} of the month`,
    inYears: (xs) => `in ${xs}`, join: ", ", units: { second: "second", minute: "minute", hour: "hour" },
    and: ", ",
  },
  zh: {
    every: (unit) => `每${unit}`, step: (n, unit, from) => `${from ? `从第 ${from} ${unit}起` : ""}每 ${n} ${unit}`,
    range: (unit, a, b) => `第 ${a} 到 ${b} ${unit}`, list: (unit, xs) => `第 ${xs.join("、")} ${unit}`,
    at: (time) => `在 ${time}`, dom: (xs) => `每月 ${xs} 日`, lastDay: "每月最后一天",
    weekdayNear: (d) => `每月离 ${d} 日最近的工作日`, lastWeekday: "每月最后一个工作日",
    inMonths: (xs) => `${xs}`, days: (xs) => `${xs}`, dayRange: (a, b) => `${a}至${b}`,
    nth: (n, d) => `每月${n}${d}`, lastOf: (d) => `每月最后一个${d}`,
    inYears: (xs) => `${xs} 年`, join: "，", units: { second: "秒", minute: "分钟", hour: "小时" },
    and: "、",
  },
};

const pad = (n) => String(n).padStart(2, "0");
const isNumber = (text) => /^\d+$/.test(text);

function number(text, names) {
  const upper = text.toUpperCase();
  const at = names ? names.indexOf(upper) : -1;
  if (at >= 0) return at + 1;
  return isNumber(text) ? Number(text) : NaN;
}

/** One of seconds, minutes, hours. */
function timeField(text, unit, w) {
  const name = w.units[unit];
  if (text === "*") return w.every(name);
  const step = text.match(/^(\*|\d+)\/(\d+)$/);
  if (step && step[2] === "1") return w.every(name);
  if (step) return w.step(step[2], name, step[1] === "*" || step[1] === "0" ? "" : step[1]);
  const range = text.match(/^(\d+)-(\d+)$/);
  if (range) return w.range(name, range[1], range[2]);
  if (/^\d+(,\d+)*$/.test(text)) return w.list(name, text.split(","));
  return null;
}

function dayOfWeek(text, w, lang) {
  const days = DAYS[lang];
  const name = (t) => {
    const n = number(t, DAY_NAMES);
    return Number.isNaN(n) || n < 1 || n > 7 ? null : days[n - 1];
  };
  const nth = text.match(/^(\w+)#(\d)$/);
  if (nth) return name(nth[1]) && ORDINAL[lang][nth[2]] ? w.nth(ORDINAL[lang][nth[2]], name(nth[1])) : null;
  const last = text.match(/^(\w+)L$/);
  if (last) return name(last[1]) ? w.lastOf(name(last[1])) : null;
  const parts = text.split(",").map((part) => {
    const range = part.split("-");
    if (range.length === 2) return name(range[0]) && name(range[1]) ? w.dayRange(name(range[0]), name(range[1])) : null;
    return name(part);
  });
  return parts.every(Boolean) ? w.days(parts.join(w.and)) : null;
}

const UNITS = {
  en: { ms: ["millisecond", "milliseconds"], s: ["second", "seconds"], m: ["minute", "minutes"],
    h: ["hour", "hours"], d: ["day", "days"] },
  zh: { ms: "毫秒", s: "秒", m: "分钟", h: "小时", d: "天" },
};
const UNIT_OF = { ms: "ms", s: "s", sec: "s", secs: "s", m: "m", min: "m", mins: "m", h: "h", hr: "h", hrs: "h", d: "d" };

/** `1h30m` in words (`1 hour 30 minutes`), or null. */
function duration(text, lang) {
  const parts = [];
  const rest = text.trim().replace(/(\d+(?:\.\d+)?)\s*([a-z]+)\s*/g, (_, n, unit) => {
    const u = UNIT_OF[unit];
    if (!u) return "?";
    parts.push(lang === "zh" ? `${n} ${UNITS.zh[u]}` : `${n} ${UNITS.en[u][n === "1" ? 0 : 1]}`);
    return "";
  });
  return parts.length && !rest ? parts.join(" ") : null;
}

/** `every …`, `after …`, `at …` and `manual` in words, or null. */
function plainSchedule(text, lang) {
  const [word, ...rest] = text.trim().split(/\s+/);
  const arg = rest.join(" ");
  switch (word.toLowerCase()) {
    case "every": {
      const d = duration(arg, lang);
      return d && (lang === "zh" ? `每 ${d}` : `every ${d}`);
    }
    case "after": {
      const d = duration(arg, lang);
      return d && (lang === "zh" ? `任务创建 ${d}后执行一次` : `once, ${d} after the task was created`);
    }
    case "at":
      return arg && !Number.isNaN(Date.parse(arg)) ? (lang === "zh" ? `在 ${arg} 执行一次` : `once, at ${arg}`) : null;
    case "manual":
      return rest.length ? null : lang === "zh" ? "仅在手动触发、被链式触发或在工作流中运行"
        : "only when triggered, chained or run in a workflow";
    default:
      return undefined;
  }
}

/** `expr` in words, or null. */
export function scheduleInWords(expr) {
  const lang = language() in W ? language() : "en";
  const w = W[lang];
  const plain = plainSchedule(expr, lang);
  if (plain !== undefined) return plain;
  const fields = expr.trim().split(/\s+/);
  if (fields.length < 6 || fields.length > 7) return null;
  const [sec, min, hour, dom, month, dow, year] = fields;
  const out = [];
  if ([sec, min, hour].every(isNumber)) {
    out.push(w.at(`${pad(hour)}:${pad(min)}:${pad(sec)}`));
  } else if (isNumber(sec) && isNumber(min) && hour === "*") {
    out.push(lang === "zh" ? `每小时的第 ${min} 分 ${sec} 秒` : `at minute ${min}, second ${sec} of every hour`);
  } else {
    for (const [text, unit] of [[sec, "second"], [min, "minute"], [hour, "hour"]]) {
      if (unit === "second" && text === "0" && min !== "*") continue;
      const said = timeField(text, unit, w);
      if (!said) return null;
      if (unit !== "second" && text === "*" && out.length) continue;
      out.push(said);
    }
  }
  if (dom === "L") out.push(w.lastDay);
  else if (dom === "LW") out.push(w.lastWeekday);
  else if (/^\d+W$/.test(dom)) out.push(w.weekdayNear(dom.slice(0, -1)));
  else if (/^\d+([,-]\d+)*$/.test(dom)) out.push(w.dom(dom.replace(/,/g, w.and).replace("-", lang === "zh" ? "至" : "–")));
  else if (dom !== "?" && dom !== "*") return null;
  if (month !== "*") {
    const names = month.split(",").map((part) => {
      const range = part.split("-").map((m) => MONTHS[lang][number(m, MONTH_NAMES) - 1]);
      return range.every(Boolean) ? range.join(lang === "zh" ? "至" : " to ") : null;
    });
    if (!names.every(Boolean)) return null;
    out.push(w.inMonths(names.join(w.and)));
  }
  if (dow !== "?" && dow !== "*") {
    const said = dayOfWeek(dow, w, lang);
    if (!said) return null;
    out.push(said);
  }
  if (year && year !== "*") out.push(w.inYears(year));
  return out.join(w.join);
}
