// The editor's schedule helper, read out in both languages (run by
// tests/e2e/console.rs with node; no browser needed). Exits 1 on the first
// phrase that is not what a user should read.

const wanted = {
  en: [
    ["0/1 * * * * ?", "every second"],
    ["0 30 9 ? * MON-FRI", "at 09:30:00, on Monday to Friday"],
    ["0 0/15 * * * ?", "every 15 minutes"],
    ["0 0 12 L * ?", "at 12:00:00, on the last day of the month"],
    ["0 15 10 ? * 6L", "at 10:15:00, on the last Friday of the month"],
    ["0 0 0 ? JAN-MAR 2#1", "at 00:00:00, in January to March, on the first Monday of the month"],
    ["0 0 12 15W * ? 2027", "at 12:00:00, on the weekday nearest day 15, in 2027"],
    ["every 30s", "every 30 seconds"],
    ["every 1h30m", "every 1 hour 30 minutes"],
    ["after 10m", "once, 10 minutes after the task was created"],
    ["at 2026-12-24T18:00:00Z", "once, at 2026-12-24T18:00:00Z"],
    ["manual", "only when triggered, chained or run in a workflow"],
    ["every 30 parsecs", null],
    ["at tomorrow", null],
  ],
  zh: [
    ["0/1 * * * * ?", "每秒"],
    ["0 30 9 ? * MON-FRI", "在 09:30:00，周一至周五"],
    ["0 15 10 ? * 6L", "在 10:15:00，每月最后一个周五"],
    ["every 5m", "每 5 分钟"],
  ],
};

let language = "en";
globalThis.localStorage = { getItem: () => language, setItem() {} };
globalThis.navigator = { languages: ["en"] };
const i18n = await import("../../host/console/js/i18n.js");
const { scheduleInWords } = await import("../../host/console/js/schedule_words.js");
let failed = 0;
for (const [lang, cases] of Object.entries(wanted)) {
  i18n.setLanguage(lang);
  for (const [expr, words] of cases) {
    const said = scheduleInWords(expr);
    if (said !== words) {
      console.log(`${lang}: \`${expr}\` reads "${said}", not "${words}"`);
      failed += 1;
    }
  }
}
console.log(failed ? `${failed} phrases wrong` : "all phrases right");
process.exit(failed ? 1 : 0);
