//! The console's files, embedded in the binary at build time from
//! `host/console/`: nothing is fetched at run time, and a host serves the
//! console of its own version.

/// The page every console path answers with.
pub(super) const SHELL: &str = include_str!("../../console/index.html");

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

macro_rules! files {
    ($($name:literal => $kind:expr),* $(,)?) => {
        /// Each file under `/assets/`: its path there, its text, its type.
        pub(super) const FILES: &[(&str, &str, &str)] = &[
            $(($name, include_str!(concat!("../../console/", $name)), $kind)),*
        ];
    };
}

files! {
    "console.css" => CSS,
    "logo.svg" => SVG,
    "js/app.js" => JS,
    "js/api.js" => JS,
    "js/dom.js" => JS,
    "js/i18n.js" => JS,
    "js/schedule_words.js" => JS,
    "js/pages/editor.js" => JS,
    "js/pages/dashboard.js" => JS,
    "js/pages/tasks.js" => JS,
    "js/pages/task.js" => JS,
    "js/pages/runs.js" => JS,
    "js/pages/run.js" => JS,
    "js/pages/nodes.js" => JS,
    "js/pages/login.js" => JS,
    "js/pages/paging.js" => JS,
    "js/pages/modules.js" => JS,
    "js/pages/delays.js" => JS,
    "js/pages/misfires.js" => JS,
    "js/pages/audit.js" => JS,
    "js/pages/access.js" => JS,
    "js/pages/calendars.js" => JS,
    "js/pages/workflows.js" => JS,
    "js/pages/alerts.js" => JS,
}

/// The file at `/assets/NAME`, with its type.
pub(super) fn find(name: &str) -> Option<(&'static str, &'static str)> {
    FILES
        .iter()
        .find(|(file, _, _)| *file == name)
        .map(|(_, body, kind)| (*body, *kind))
}
