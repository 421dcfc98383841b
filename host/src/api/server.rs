//! Binding the API's address and serving it until the host stops: the
//! routes (each resource's handlers, collected with their OpenAPI
//! description), authentication in front of `/api/v1`, and the spec itself.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::Extension;
use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn;
use axum::routing::get;
use tokio::sync::watch;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::delay_writer::DelayWriter;
use crate::api::error::ApiError;
use crate::api::stats::SettledHours;
use crate::api::{
    alerts, auth, calendars, delays, runs, sessions, stats, system, tasks, tokens, users, workflows,
};
use crate::egress::Egress;
use crate::metrics::Gauge;
use crate::runtime::Runtime;
use crate::store::{Backend, Store};

/// The largest module an upload may carry (a Python job's component is
/// tens of MiB).
pub const MAX_MODULE_BYTES: usize = 256 << 20;

/// What every answer says while no token exists.
pub const SETUP_HINT: &str = "no API tokens or users exist yet, so only requests from this \
    machine are served; create the first admin with `carillon token create admin --role admin` \
    (it prints the token once; send it as `Authorization: Bearer TOKEN`) or, for the console, \
    `carillon user add admin --role admin` (it reads the password from stdin)";

/// Why the host is not ready to serve, if it is not (fenced, a loop down):
/// asked by `/readyz`, answered by whoever runs the host.
pub type Readiness = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// This host's gauges (capacity, queues), read at each scrape of `/metrics`.
pub type HostGauges = Arc<dyn Fn() -> Vec<Gauge> + Send + Sync>;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The database.
    pub store: Store,
    /// This host's node id.
    pub node_id: String,
    /// A host silent this long is dead (for the count of live nodes).
    pub node_timeout: std::time::Duration,
    /// This host's gauges.
    pub gauges: HostGauges,
    /// The sandbox, to check an uploaded module before it is stored.
    pub runtime: Arc<Runtime>,
    /// Why the host is not ready, if it is not.
    pub readiness: Readiness,
    /// Turns true when the host stops: live streams end then, so that
    /// shutdown does not wait for them.
    pub stopped: watch::Receiver<bool>,
    /// Outbound HTTP as delay callbacks use it: a new delay's URL is checked
    /// against its allow-list.
    pub egress: Arc<Egress>,
    /// Rung when a delay is created, so the delay loop looks at once.
    pub delays_wake: Arc<tokio::sync::Notify>,
    /// Writes delay creations in batches; started by the first (give it
    /// `Default::default()`).
    pub(crate) delay_writer: Arc<OnceLock<DelayWriter>>,
    /// The dashboard's counts of settled hours (give it `Default::default()`).
    pub(crate) settled_hours: Arc<SettledHours>,
}

impl ApiState {
    /// The delay writer, started on the calling runtime by the first call.
    pub(crate) fn delay_writer(&self) -> &DelayWriter {
        self.delay_writer
            .get_or_init(|| DelayWriter::spawn(self.store.clone()))
    }
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Carillon admin API",
        description = "Tasks, runs, logs, calendars, workflows, alerts, delays, tokens, users and the host's health. Every error is \
            `{\"error\": {\"code\", \"message\", \"field\"}}`."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []), ("session" = []))
)]
struct ApiDoc;

/// Declares the two ways every signed-in `/api/v1` endpoint is called: a
/// bearer token, or a console session's cookie (whose changes also send
/// `X-CSRF-Token`).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                sessions::SESSION_COOKIE,
                "Set by POST /api/v1/login. A change made with it also sends the session's \
                 CSRF token (from the login answer or GET /api/v1/session) in X-CSRF-Token.",
            ))),
        );
    }
}

/// The routes and the spec that describes them.
fn routes() -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    let signed_in = OpenApiRouter::new()
        .routes(routes!(tasks::list, tasks::create))
        .routes(routes!(tasks::get, tasks::update, tasks::delete))
        .routes(routes!(tasks::bulk))
        .routes(routes!(tasks::trigger))
        .routes(routes!(tasks::pause))
        .routes(routes!(tasks::resume))
        .routes(routes!(tasks::next))
        .routes(routes!(runs::list))
        .routes(routes!(runs::get))
        .routes(routes!(runs::logs))
        .routes(routes!(runs::follow))
        .routes(routes!(runs::cancel))
        .routes(routes!(runs::retry))
        .routes(routes!(runs::bulk))
        .routes(routes!(stats::runs_by_hour))
        .routes(routes!(delays::list, delays::create))
        .routes(routes!(delays::get, delays::cancel))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::remove))
        .routes(routes!(sessions::current))
        .routes(routes!(sessions::logout))
        .routes(routes!(calendars::list))
        .routes(routes!(calendars::get, calendars::put, calendars::delete))
        .routes(routes!(alerts::rules))
        .routes(routes!(alerts::put_rule, alerts::delete_rule))
        .routes(routes!(alerts::channels))
        .routes(routes!(alerts::put_channel, alerts::delete_channel))
        .routes(routes!(alerts::keepers))
        .routes(routes!(alerts::put_keeper, alerts::delete_keeper))
        .routes(routes!(alerts::alerts))
        .routes(routes!(workflows::list))
        .routes(routes!(workflows::get, workflows::put, workflows::delete))
        .routes(routes!(workflows::trigger))
        .routes(routes!(workflows::runs))
        .routes(routes!(workflows::run))
        .routes(routes!(workflows::cancel))
        .routes(routes!(workflows::retry_step))
        .routes(routes!(workflows::succeed_step))
        .routes(routes!(system::cron_next))
        .routes(routes!(system::nodes))
        .routes(routes!(system::misfires))
        .routes(routes!(system::modules))
        .merge(
            // A module may be far larger than other bodies.
            OpenApiRouter::new()
                .routes(routes!(system::upload_module, system::remove_module))
                .layer(DefaultBodyLimit::max(MAX_MODULE_BYTES)),
        )
        .routes(routes!(system::audit))
        .routes(routes!(system::metrics))
        .layer(from_fn(auth::authenticate));
    let open = OpenApiRouter::new()
        .routes(routes!(system::healthz))
        .routes(routes!(system::readyz))
        .routes(routes!(sessions::login));
    let (router, spec) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(signed_in)
        .merge(open)
        .split_for_parts();
    let served = spec.clone();
    let router = router
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let spec = served.clone();
                async move { Json(spec) }
            }),
        )
        .merge(crate::console::routes())
        .fallback(|| async {
            ApiError::not_found(
                "there is no such endpoint; the API is described at /api/v1/openapi.json",
            )
        });
    (router, spec)
}

/// The API's listening socket, bound before the host starts its loops so
/// that an address in use stops start-up with a clear message.
#[derive(Debug)]
pub struct ApiServer {
    listener: tokio::net::TcpListener,
}

impl ApiServer {
    /// Binds `address`.
    pub async fn bind(address: SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {address} for the API ({e}); set `api.listen` (or --listen) to \
                 a free address, or to `off`"
            )
        })?;
        Ok(Self { listener })
    }

    /// The address it listens on (the port chosen, when bound to port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves requests on threads of the API's own until `stopped` turns
    /// true. Firing comes first: those threads run at a lower CPU priority
    /// than the rest of the host, and the API reads and writes through a
    /// database pool of its own, so a client listing back to back neither
    /// takes the scheduler's CPU nor its connections.
    pub fn start(
        self,
        state: ApiState,
        stopped: watch::Receiver<bool>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let listener = self.listener.into_std()?;
        let priority = api_priority();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(API_THREADS)
            .max_blocking_threads(API_THREADS)
            .thread_name("carillon-api")
            .on_thread_start(move || set_priority(priority))
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("carillon-api".into())
            .spawn(move || {
                set_priority(priority);
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(error) => {
                            tracing::error!("the API cannot serve its listener: {error}");
                            return;
                        }
                    };
                    let connections = match state.store.backend() {
                        Backend::Sqlite => 2,
                        Backend::Postgres => 4,
                    };
                    let mut state = state;
                    match state.store.side_pool(connections).await {
                        Ok(store) => state.store = store,
                        Err(error) => tracing::warn!(
                            "the API shares the host's database connections: {error}"
                        ),
                    }
                    Self { listener }.serve(state, stopped).await;
                });
            })
    }

    /// Serves requests until `stopped` turns true.
    async fn serve(self, state: ApiState, mut stopped: watch::Receiver<bool>) {
        let (router, _) = routes();
        let warming = state.clone();
        tokio::spawn(async move { warming.settled_hours.warm(&warming.store).await });
        let router = router.layer(Extension(state.clone())).with_state(state);
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let served = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        if let Err(error) = served {
            tracing::error!("the API stopped serving: {error}");
        }
    }
}

/// Worker threads of the API's runtime (and at most as many for blocking
/// work such as checking an uploaded module).
const API_THREADS: usize = 2;

/// How much less CPU priority the API's threads have than the host's (a
/// nice value: at 10 a busy API thread gets about a tenth of what a busy
/// scheduler thread gets, and all of an idle machine).
const API_NICENESS: i32 = 10;

/// The nice value for the API's threads: the calling thread's (the host's),
/// plus [`API_NICENESS`].
fn api_priority() -> i32 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and getpriority take and return plain integers.
        let host = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
        host.saturating_add(API_NICENESS).min(19)
    }
    #[cfg(not(target_os = "linux"))]
    API_NICENESS
}

/// Gives the calling thread the nice value `priority`; threads it starts
/// (a database driver's worker) inherit it, as the nice value is per
/// thread on Linux. Best effort: elsewhere, or if refused, the thread keeps
/// its priority.
fn set_priority(priority: i32) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority take plain integers and touch no
        // memory of ours.
        let refused = unsafe {
            libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, priority)
        } != 0;
        if refused {
            tracing::debug!("an API thread keeps the host's CPU priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = priority;
}

/// The spec, as `/api/v1/openapi.json` serves it.
pub fn openapi_json() -> String {
    serde_json::to_string_pretty(&routes().1).unwrap_or_default()
}
