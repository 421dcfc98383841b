//! A PostgreSQL database of its own for each test (127.0.0.1:5432, trust
//! auth), created at the start and dropped at the end, so tests run in
//! parallel.

pub const SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// A database of its own for one test, dropped at the end.
pub struct TestDatabase {
    name: String,
}

impl TestDatabase {
    pub fn create(test: &str) -> Self {
        let name = format!("carillon_{test}_{}", std::process::id());
        admin(&format!("DROP DATABASE IF EXISTS {name}"));
        admin(&format!("CREATE DATABASE {name}"));
        Self { name }
    }

    pub fn url(&self) -> String {
        format!("{SERVER}/{}", self.name)
    }

    /// The URL through a local proxy listening on `port`.
    pub fn url_via(&self, port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/{}", self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        admin(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

fn admin(statement: &str) {
    crate::host::query_db(&format!("{SERVER}/postgres"), statement);
}

/// A PostgreSQL server of the test's own, on a free port, for tests that
/// stop and start it (never the shared one). Started with Debian's
/// `initdb` and `pg_ctl` as the `postgres` user; stopped and deleted when
/// dropped.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    pub port: u16,
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

impl PrivatePostgres {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::process::Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Self { dir, port };
        server.as_postgres(&format!(
            "{PG_BIN}/initdb -D {} --auth=trust --username=postgres --no-sync -E UTF8 >/dev/null",
            server.data().display()
        ));
        server.start_again();
        server
    }

    fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    fn as_postgres(&self, command: &str) {
        let status = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--", "sh", "-c", command])
            .status()
            .expect("cannot run runuser");
        assert!(status.success(), "as postgres: {command}");
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn start_again(&self) {
        self.as_postgres(&format!(
            "{PG_BIN}/pg_ctl -D {} -l {}/log -w -o '-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off' start >/dev/null",
            self.data().display(),
            self.dir.path().display(),
            self.port,
            self.dir.path().display()
        ));
    }

    /// Stops the server at once (connections are cut).
    pub fn stop(&self) {
        self.as_postgres(&format!(
            "{PG_BIN}/pg_ctl -D {} -m immediate -w stop >/dev/null",
            self.data().display()
        ));
    }

    /// The URL of a database on it, created here.
    pub fn database(&self, name: &str) -> String {
        let server = format!("postgres://postgres@127.0.0.1:{}", self.port);
        crate::host::query_db(
            &format!("{server}/postgres"),
            &format!("CREATE DATABASE {name}"),
        );
        format!("{server}/{name}")
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--", "sh", "-c"])
            .arg(format!(
                "{PG_BIN}/pg_ctl -D {} -m immediate stop >/dev/null 2>&1",
                self.data().display()
            ))
            .status();
    }
}
