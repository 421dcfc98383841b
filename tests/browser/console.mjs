// The console's scenarios in a real browser (Debian's chromium, driven by
// playwright-core). tests/e2e/console.rs starts a host, makes the users and
// tasks, and runs this with:
//   CONSOLE_URL   the host's API address (the console is at /)
//   PLAYWRIGHT    playwright-core's index.mjs
//   CHROMIUM      the browser binary
//   SHOTS         where to save a screenshot per page
//   ADMIN, VIEWER "name:password" of an admin and of a viewer
// Each step names what a user would notice; the first that fails saves a
// screenshot and ends the script with status 1.

import { mkdirSync } from "node:fs";

const { chromium } = await import(process.env.PLAYWRIGHT);
const base = process.env.CONSOLE_URL;
const shots = process.env.SHOTS;
const [adminName, adminPassword] = process.env.ADMIN.split(":");
const [viewerName, viewerPassword] = process.env.VIEWER.split(":");
mkdirSync(shots, { recursive: true });

const WAIT = 20000;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: ["--no-sandbox"] });
const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-US", colorScheme: "light" });
const page = await context.newPage();
page.setDefaultTimeout(WAIT);
const problems = [];
page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
page.on("console", (message) => {
  if (message.type() === "error") problems.push(`console error: ${message.text()}`);
});
const dialogs = [];
page.on("dialog", (dialog) => {
  dialogs.push(dialog.message());
  dialog.accept();
});

let current = "";
async function step(name, body) {
  current = name;
  process.stdout.write(`- ${name} … `);
  await body();
  const unexpected = problems.filter((p) => !p.includes("401") && !p.includes("403") && !p.includes("422"));
  if (unexpected.length) throw new Error(unexpected.join("; "));
  console.log("ok");
}
const shot = (name, target = page) => target.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
const text = (selector) => page.locator(selector).first().innerText();
async function until(what, check) {
  const deadline = Date.now() + WAIT;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await page.waitForTimeout(150);
  }
}
async function login(name, password) {
  await page.goto(`${base}/`);
  await page.waitForURL(/\/login/);
  await page.fill("input[name=name]", name);
  await page.fill("input[name=password]", password);
  await page.click("form.login button[type=submit]");
  await page.waitForURL((url) => !url.pathname.startsWith("/login"));
}

try {
  await step("a page without a session goes to sign-in, and a wrong password is refused on the form", async () => {
    await page.goto(`${base}/tasks`);
    await page.waitForURL(/\/login\?next=%2Ftasks/);
    await page.fill("input[name=name]", adminName);
    await page.fill("input[name=password]", "not the password");
    await page.click("form.login button[type=submit]");
    await until("the refusal", async () => (await text("#login-error")).length > 0);
    await shot("login");
  });

  await step("the admin signs in and lands on the page asked for", async () => {
    await page.fill("input[name=password]", adminPassword);
    await page.click("form.login button[type=submit]");
    await page.waitForURL(/\/tasks$/);
    await page.getByRole("link", { name: "sleepy", exact: true }).waitFor();
    if (!(await text("#who")).includes(adminName)) throw new Error("the header does not name the user");
  });

  await step("the dashboard shows counts and the runs chart", async () => {
    await page.goto(`${base}/`);
    await page.locator(".tile-value").first().waitFor();
    const tasks = await page.locator(".tile").first().innerText();
    if (!/\d/.test(tasks)) throw new Error(`no task count: ${tasks}`);
    await page.locator("svg.chart").waitFor();
    if (!(await page.locator("svg.chart").getAttribute("aria-label")).includes("last 24 hours")) {
      throw new Error("the chart is not of the last day");
    }
    await page.click("[data-span=week]");
    await page.waitForURL(/chart=week/);
    await until("the week's chart", async () =>
      (await page.locator("svg.chart").getAttribute("aria-label")).includes("last 7 days"));
    await page.click("[data-span=day]");
    await until("the day's chart", async () =>
      (await page.locator("svg.chart").getAttribute("aria-label")).includes("last 24 hours"));
    await shot("dashboard");
  });

  await step("a task with a bad cron is refused, with the error on the schedule field", async () => {
    await page.goto(`${base}/tasks`);
    await page.click("#new-task");
    await page.waitForURL(/\/tasks\/new$/);
    await page.fill("#f-name", "every-second");
    await page.fill("#f-module", "hello");
    await page.fill("#f-schedule", "0 0 25 * * ?");
    await until("the schedule's error while typing", async () => (await text("#f-schedule-error")).includes("25"));
    await page.click("#save");
    await until("the refusal on the field", async () =>
      (await page.getAttribute("#f-schedule", "aria-invalid")) === "true");
    if (!page.url().endsWith("/tasks/new")) throw new Error("a refused task left the editor");
    await shot("editor-error");
  });

  await step("fixing the cron shows it in words and its next five fire times", async () => {
    await page.fill("#f-schedule", "0/1 * * * * ?");
    await until("five fire times", async () => (await page.locator("#schedule-preview li").count()) === 5);
    if ((await text("#f-schedule-error")) !== "") throw new Error("the error stayed");
    const words = await text("#schedule-words");
    if (!words.includes("every second")) throw new Error(`words: ${words}`);
    await page.fill("#f-params", `name=<img src=x onerror="window.__pwned=1">`);
    await shot("editor-preview");
  });

  await step("the task is created, fires, and its run opens with its log", async () => {
    await page.click("#save");
    await page.waitForURL(/\/tasks\/every-second$/);
    await until("a run of the new task", async () => {
      await page.goto(`${base}/tasks/every-second`);
      await page.locator("h1").waitFor();
      return (await page.locator("table a[href^='/runs/']").count()) > 0;
    });
    await shot("task");
    await page.locator("table a[href^='/runs/']").last().click();
    await page.waitForURL(/\/runs\/\d+$/);
    await until("the run's log", async () => (await page.locator("#log li").count()) > 0);
    await until("the log's end", async () => (await text(".live")).includes("ended"));
    const log = await text("#log");
    if (!log.includes("<img src=x")) throw new Error(`the guest's text is not shown as text: ${log}`);
    if (await page.evaluate(() => window.__pwned)) throw new Error("a param ran as HTML");
    await shot("run");
  });

  await step("a running sleepy's log lines arrive live, and cancel stops it", async () => {
    await page.goto(`${base}/tasks/sleepy`);
    await page.click("details.trigger summary");
    await page.fill("#trigger-params", "seconds=60\nprogress=true\ncheckpoint_every=4");
    await page.click("details.trigger button");
    // Leaving the page before the trigger's answer would abort its request.
    await until("the trigger's confirmation", async () => (await text("#banner")).includes("Triggered"));
    let run = null;
    await until("the triggered run", async () => {
      await page.goto(`${base}/runs?task=sleepy&state=running`);
      await page.locator("h1").waitFor();
      const link = page.locator("table a[href^='/runs/']").first();
      if (!(await link.count())) return false;
      run = await link.getAttribute("href");
      return true;
    });
    await page.goto(`${base}${run}`);
    await until("a first line", async () => (await page.locator("#log li").count()) >= 1);
    const first = await page.locator("#log li").count();
    await until("more lines while it runs", async () => (await page.locator("#log li").count()) >= first + 2);
    if (!(await text(".live")).includes("live")) throw new Error("the log is not shown as live");
    await shot("run-live");
    await page.getByRole("button", { name: "Cancel" }).click();
    await until("the run to end cancelled", async () => /ended: (cancelled|failed)/.test(await text(".live")));
  });

  await step("a ticked run is retried and the filter's runs cancelled, each after saying how many", async () => {
    const stateOf = async (id) => {
      await page.goto(`${base}/runs?task=sleepy`);
      const row = page.locator(`tr:has(input[data-run="${id}"])`);
      await row.waitFor();
      return row.locator(".badge").innerText();
    };
    await page.goto(`${base}/runs?task=sleepy`);
    const box = page.locator("input[data-run]").first();
    await box.waitFor();
    const id = await box.getAttribute("data-run");
    await box.check();
    await until("the selection's bar", async () => (await text(".bulk:not([hidden]) .muted")) === "1 selected:");
    dialogs.length = 0;
    await page.click("[data-bulk-selected=retry]");
    await until("the confirmation", async () => dialogs.length === 1);
    if (!dialogs[0].includes("Retry: 1 run?")) throw new Error(`the confirmation says: ${dialogs[0]}`);
    await until("the run to wait or run again", async () => ["pending", "running"].includes(await stateOf(id)));
    dialogs.length = 0;
    await page.click("[data-bulk=cancel]");
    await until("the confirmation", async () => dialogs.length === 1);
    if (!dialogs[0].includes("Cancel: 1 run?")) throw new Error(`the confirmation says: ${dialogs[0]}`);
    await until("the run to end cancelled", async () => ["cancelled", "failed"].includes(await stateOf(id)));
  });

  await step("pausing a task shows it paused", async () => {
    await page.goto(`${base}/tasks/every-second`);
    await page.getByRole("button", { name: "Pause" }).click();
    await until("the paused badge", async () => (await text(".title-row .badge")) === "paused");
  });

  await step("a bulk pause over a filter says how many first, then pauses them all", async () => {
    await page.goto(`${base}/tasks?name=bulk`);
    await until("the filtered list", async () => (await page.locator("tbody tr").count()) === 2);
    dialogs.length = 0;
    await page.click("[data-bulk=pause]");
    await until("the confirmation", async () => dialogs.length === 1);
    if (!dialogs[0].includes("2 tasks")) throw new Error(`the confirmation says: ${dialogs[0]}`);
    await until("both paused", async () => {
      const states = await page.locator("tbody tr td:last-child").allInnerTexts();
      return states.length === 2 && states.every((s) => s === "paused");
    });
    await shot("tasks");
  });

  await step("ticking one row and resuming the selection resumes that task only", async () => {
    await page.goto(`${base}/tasks?name=bulk`);
    await until("the filtered list", async () => (await page.locator("tbody tr").count()) === 2);
    await page.getByRole("checkbox", { name: "Select bulk-a" }).check();
    await until("the selection's bar", async () => (await text(".bulk:not([hidden]) .muted")) === "1 selected:");
    dialogs.length = 0;
    await page.click("[data-bulk-selected=resume]");
    await until("the confirmation", async () => dialogs.length === 1);
    if (!dialogs[0].includes("1 task?")) throw new Error(`the confirmation says: ${dialogs[0]}`);
    await until("bulk-a active, bulk-b still paused", async () => {
      const states = await page.locator("tbody tr td:last-child").allInnerTexts();
      return states.join(",") === "active,paused";
    });
  });

  await step("sorting by next fire puts the soonest first and the paused last", async () => {
    await page.goto(`${base}/tasks`);
    await page.click("[data-sort=next]");
    await page.waitForURL(/sort=next_fire/);
    await until("the sorted heading", async () =>
      (await page.locator("th[aria-sort=ascending]").innerText()).includes("Next fire"));
    const states = await page.locator("tbody tr td:last-child").allInnerTexts();
    const firstPaused = states.indexOf("paused");
    if (firstPaused <= 0 || states.slice(firstPaused).includes("active")) {
      throw new Error(`states in next-fire order: ${states.join(", ")}`);
    }
    await page.click("[data-sort=name]");
    await until("the list by name", async () =>
      (await page.locator("th[aria-sort=ascending]").innerText()).includes("Name"));
    await page.click("[data-sort=name]");
    await page.waitForURL(/sort=-name/);
    let names = [];
    await until("the list by name, turned round", async () => {
      if (!(await page.locator("th[aria-sort=descending]").count())) return false;
      names = await page.locator("tbody tr td:nth-child(2)").allInnerTexts();
      return names.length > 1 && names.join() === [...names].sort().reverse().join();
    }).catch(() => { throw new Error(`names by -name: ${names.join(", ")}`); });
  });

  await step("the runs and nodes pages list what the host did", async () => {
    await page.goto(`${base}/runs`);
    await page.locator("tbody tr").first().waitFor();
    await shot("runs");
    await page.goto(`${base}/nodes`);
    await page.locator("tbody tr").first().waitFor();
    if (!(await text("tbody")).includes("alive")) throw new Error("the host is not shown alive");
    await shot("nodes");
  });

  await step("a calendar is added with its error on the field first, then used by a task", async () => {
    await page.goto(`${base}/calendars`);
    await page.locator("#calendar-form").waitFor();
    await page.fill("#cal-name", "weekends");
    await page.selectOption("#cal-kind", "weekly");
    await page.fill("#cal-excludes", "SAT, FUNDAY");
    await page.click("#calendar-save");
    await until("the refusal on the field", async () =>
      (await page.getAttribute("#cal-excludes", "aria-invalid")) === "true" && (await text("#cal-excludes-error")).includes("FUNDAY"));
    await page.fill("#cal-excludes", "SAT, SUN");
    await page.click("#calendar-save");
    await until("the calendar listed", async () => (await page.locator("tbody tr").count()) === 1);
    if (!(await text("tbody")).includes("SAT, SUN")) throw new Error("the calendar's days are not shown");
    await shot("calendars");
  });

  await step("the modules, delays, misfires, audit and access pages show what the host holds", async () => {
    for (const [path, name, ready] of [["/modules", "modules", "tbody tr"], ["/delays", "delays", "form.filters"],
      ["/misfires", "misfires", "form.filters"], ["/audit", "audit", "tbody tr"], ["/access", "access", "tbody tr"]]) {
      await page.goto(`${base}${path}`);
      await page.locator(ready).first().waitFor();
      await shot(name);
    }
    if (!(await page.locator("#nav").textContent()).includes("Audit")) throw new Error("an admin does not see the audit log in the menu");
    await page.click("#nav details.more summary");
    await page.getByRole("link", { name: "Audit", exact: true }).click();
    await page.waitForURL(/\/audit$/);
    if ((await text("#nav details.more summary")) !== "Audit") throw new Error("the menu does not say which page is open");
  });

  await step("a workflow started from the console shows its steps run, then its alerts page its rules", async () => {
    await page.goto(`${base}/workflows`);
    await page.click("[data-trigger=greetings]");
    await page.waitForURL(/\/workflows\/runs\/\d+$/);
    await until("the run to succeed", async () => (await text(".title-row .badge")) === "succeeded");
    const states = await page.locator("tbody tr td:nth-child(3)").allInnerTexts();
    if (states.length !== 4 || !states.every((s) => s === "succeeded")) throw new Error(`step states: ${states.join(", ")}`);
    if (!(await text("tbody")).includes("greeted=world")) throw new Error("the first step's output is not shown");
    await shot("workflow-run");
    await page.goto(`${base}/alerts`);
    await page.locator("text=failures").first().waitFor();
    if (!(await text("main")).includes("every task")) throw new Error("the default rule's scope is not shown");
    await shot("alerts");
  });

  await step("switching to Chinese changes the words, and is remembered", async () => {
    await page.goto(`${base}/tasks`);
    await page.selectOption("#lang", "zh");
    await until("Chinese navigation", async () => (await text("#nav")).includes("任务"));
    await page.reload();
    await until("Chinese after a reload", async () => (await text("h1")) === "任务");
    await shot("tasks-zh");
    await page.selectOption("#lang", "en");
  });

  await step("at a phone's width the pages still work, in dark mode", async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: "dark", storageState: await context.storageState() });
    const small = await phone.newPage();
    await small.goto(`${base}/`);
    await small.locator(".tile-value").first().waitFor();
    const wide = await small.evaluate(() => document.documentElement.scrollWidth);
    if (wide > 400) throw new Error(`the page is ${wide} px wide at 390 px`);
    await shot("dashboard-phone", small);
    await phone.close();
  });

  await step("a viewer sees no edit controls, and the server refuses a change anyway", async () => {
    await page.click("#logout");
    await page.waitForURL(/\/login/);
    await login(viewerName, viewerPassword);
    await page.goto(`${base}/tasks/sleepy`);
    await page.locator("h1").waitFor();
    for (const name of ["Trigger now", "Pause", "Resume", "Delete", "Edit"]) {
      if (await page.getByRole("button", { name, exact: true }).count()) throw new Error(`a viewer sees ${name}`);
      if (await page.getByRole("link", { name, exact: true }).count()) throw new Error(`a viewer sees ${name}`);
    }
    const status = await page.evaluate(async () => {
      const session = await (await fetch("/api/v1/session")).json();
      const answer = await fetch("/api/v1/tasks/sleepy/pause", {
        method: "POST", headers: { "X-CSRF-Token": session.csrf_token },
      });
      return answer.status;
    });
    if (status !== 403) throw new Error(`the server answered ${status} to a viewer's change`);
    if ((await page.locator("#nav").textContent()).includes("Audit")) throw new Error("a viewer sees the audit log in the menu");
    await page.goto(`${base}/calendars`);
    await page.locator("tbody tr").first().waitFor();
    if (await page.locator("#calendar-form").count()) throw new Error("a viewer sees the calendar form");
    await shot("task-viewer");
  });
} catch (error) {
  console.log(`FAILED\n${current}: ${error.message}`);
  await shot("failure").catch(() => {});
  await browser.close();
  process.exit(1);
}
await browser.close();
console.log("all console scenarios passed");
