//! A real `carillon serve` process on a temporary SQLite database and plugins
//! folder, plus plain-SQL access to that database and polling with deadlines.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use sqlx::Row;
use sqlx::any::AnyPoolOptions;

use crate::examples;
use crate::support::block_on;

/// A served host and its files.
pub struct Host {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub node_id: String,
    extra: Vec<String>,
    database: Option<String>,
}

impl Host {
    /// Starts a host on SQLite with the given example modules in its plugins folder.
    pub fn start(modules: &[&str], extra: &[&str]) -> Host {
        Self::start_on(None, modules, extra)
    }

    /// Starts a host on `database` (default: a SQLite file in its directory).
    pub fn start_on(database: Option<String>, modules: &[&str], extra: &[&str]) -> Host {
        Self::start_node(database, "test-node", modules, extra)
    }

    /// Starts host `node_id` on `database`, one of a cluster.
    pub fn start_node(
        database: Option<String>,
        node_id: &str,
        modules: &[&str],
        extra: &[&str],
    ) -> Host {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        for module in modules {
            let target = dir
                .path()
                .join("plugins")
                .join(format!("{}.wasm", module.replace('-', "_")));
            std::fs::copy(examples::path(module), target).unwrap();
        }
        let mut host = Host {
            child: None,
            dir,
            node_id: node_id.into(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            database,
        };
        host.spawn();
        host.wait_until_serving();
        host
    }

    pub fn database_url(&self) -> String {
        match &self.database {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.dir.path().join("carillon.db").display()),
        }
    }

    pub fn plugins(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("host.log")
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_carillon"))
            .arg("serve")
            .args(["--database", &self.database_url()])
            .args(["--plugins", self.plugins().to_str().unwrap()])
            .args(["--node-id", &self.node_id])
            .args(if self.extra.iter().any(|a| a == "--poll-interval") {
                &[][..]
            } else {
                &["--poll-interval", "100ms"][..]
            })
            .args(&self.extra)
            .env("CARILLON_CACHE_DIR", self.dir.path().join("cache"))
            .env("CARILLON_SHUTDOWN_GRACE", "500ms")
            .env("CARILLON_CANCEL_GRACE", "500ms")
            .env("CARILLON_LOG_LEVEL", "info,carillon::job=warn")
            // Hosts of parallel tests each take a free port for the API.
            .env("CARILLON_API_LISTEN", "127.0.0.1:0")
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("cannot start carillon serve");
        self.child = Some(child);
    }

    fn wait_until_serving(&self) {
        wait_until("the host to start serving", Duration::from_secs(60), || {
            self.log().contains("carillon is serving").then_some(())
        });
    }

    /// The admin API's base URL (`http://127.0.0.1:PORT`), as the host
    /// logged it when it last started.
    pub fn api(&self) -> String {
        let log = self.log();
        let marker = "admin API listening on http://";
        let at = log.rfind(marker).expect("the host serves no API") + marker.len();
        let address = log[at..].split('/').next().unwrap();
        format!("http://{address}")
    }

    /// Starts the host again on the same files.
    pub fn restart(&mut self) {
        let before = self.log().matches("carillon is serving").count();
        self.spawn();
        wait_until("the host to serve again", Duration::from_secs(60), || {
            (self.log().matches("carillon is serving").count() > before).then_some(())
        });
    }

    /// kill -9: no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, then wait for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("host is running");
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "host did not exit after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The host's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("host is running").id()
    }

    /// Everything the host logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Runs plain SQL against the host's database.
    pub fn sql(&self, statement: &str) {
        if let Err(error) = self.try_sql(statement) {
            panic!("{statement}: {error}");
        }
    }

    /// Runs plain SQL against the host's database; the database's error if
    /// it refuses the statement.
    pub fn try_sql(&self, statement: &str) -> Result<(), String> {
        let url = self.database_url();
        let statement = statement.to_owned();
        block_on(async move {
            let pool = connect(&url).await;
            let result = sqlx::query(&statement).execute(&pool).await;
            pool.close().await;
            result.map(|_| ()).map_err(|e| e.to_string())
        })
    }

    /// Rows of a query, each column read as text (NULL as "").
    pub fn query(&self, statement: &str) -> Vec<Vec<String>> {
        query_db(&self.database_url(), statement)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn query_db(url: &str, statement: &str) -> Vec<Vec<String>> {
    let url = url.to_owned();
    let statement = statement.to_owned();
    block_on(async move {
        let pool = connect(&url).await;
        let rows = sqlx::query(&statement).fetch_all(&pool).await.unwrap();
        let out = rows
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| {
                        row.try_get::<Option<String>, _>(i)
                            .ok()
                            .flatten()
                            .or_else(|| {
                                row.try_get::<Option<i64>, _>(i)
                                    .ok()
                                    .flatten()
                                    .map(|n| n.to_string())
                            })
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .collect();
        pool.close().await;
        out
    })
}

async fn connect(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap()
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `timeout`.
pub fn wait_until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Copies example `module`'s bytes to `path` atomically (write + rename), as
/// a deploy tool would.
pub fn deploy(module: &str, path: &Path) {
    let temporary = path.with_extension("partial");
    std::fs::copy(examples::path(module), &temporary).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}
