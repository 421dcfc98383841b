//! The web console, served by `carillon serve` at `/` on the API's address.
//! It is a client of the admin API and nothing more: the pages are static
//! files embedded in the binary (one HTML shell, a style sheet, JavaScript
//! modules with no build step), and every figure they show comes from
//! `/api/v1` under the API's own sign-in, roles and CSRF token. So the
//! console can do nothing the API would refuse, and the API's tests hold
//! for it too.
//!
//! By file: `assets` (the embedded files and their types). This file owns
//! the routes: the shell for every console path (the page's script picks
//! the view from the path), the assets, and the headers every answer
//! carries (a Content-Security-Policy allowing only this origin's scripts
//! and styles, no framing, no sniffing).

mod assets;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// What the console's pages may load and do: only this origin's scripts,
/// styles and API; no inline script, no framing, no plugins, forms only to
/// itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// The paths the shell answers: each is a view of the console.
const VIEWS: &[&str] = &[
    "/",
    "/login",
    "/tasks",
    "/tasks/new",
    "/tasks/{name}",
    "/tasks/{name}/edit",
    "/runs",
    "/runs/{id}",
    "/nodes",
    "/modules",
    "/delays",
    "/misfires",
    "/calendars",
    "/workflows",
    "/workflows/runs/{id}",
    "/alerts",
    "/audit",
    "/access",
];

/// The console's routes, to merge beside the API's.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new();
    for view in VIEWS {
        router = router.route(view, get(shell));
    }
    router.route("/assets/{*file}", get(asset))
}

async fn shell() -> Response {
    served(assets::SHELL, "text/html; charset=utf-8")
}

async fn asset(Path(file): Path<String>) -> Response {
    match assets::find(&file) {
        Some((body, kind)) => served(body, kind),
        None => (StatusCode::NOT_FOUND, "no such console file").into_response(),
    }
}

/// `body` with its type and the console's headers.
fn served(body: &'static str, kind: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Small files, and a new binary may bring new ones: asked again each
    // time (a 200 from memory on loopback costs less than a stale page).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_shell_names_is_served() {
        for name in assets::SHELL
            .split('"')
            .filter_map(|part| part.strip_prefix("/assets/"))
        {
            assert!(assets::find(name).is_some(), "{name} is not embedded");
        }
    }

    #[test]
    fn every_module_a_script_imports_is_served() {
        for (file, body, _) in assets::FILES {
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let Some(target) = line.split(['"', '\'']).nth(1) else {
                    continue;
                };
                let base = file.rsplit_once('/').map_or("", |(dir, _)| dir);
                let resolved = resolve(base, target);
                assert!(
                    assets::find(&resolved).is_some(),
                    "{file} imports {target} ({resolved}), which is not embedded"
                );
            }
        }
    }

    /// `target` (`./x.js`, `../x.js`) relative to the folder `base`.
    fn resolve(base: &str, target: &str) -> String {
        let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
        for part in target.split('/') {
            match part {
                "." => {}
                ".." => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        parts.join("/")
    }
}
