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
