//! The one way the store writes: with this process's write turn held (SQLite
//! has one writer; writers of this process queue here instead of failing
//! with `database is locked`), in a transaction when asked, and again while
//! the failure is transient (SQLite busy or locked by another process, a
//! dropped connection), with doubling pauses for about 10 s in all.
//!
//! A transaction that does not commit closes its connection rather than
//! giving it back to the pool: after a failure such as SQLite's
//! `database or disk is full`, which may end the transaction behind the
//! driver's back, a pooled connection could otherwise keep a transaction
//! open, and with it the database's write lock, for good.

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use sqlx::any::AnyArguments;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Executor};

use crate::store::{Backend, Store, StoreError};

/// A write transaction on a connection of its own.
#[derive(Debug)]
pub(crate) struct Tx {
    connection: PoolConnection<Any>,
    committed: bool,
}

impl Tx {
    async fn begin(mut connection: PoolConnection<Any>) -> Result<Self, StoreError> {
        (&mut *connection).execute("BEGIN").await?;
        Ok(Self {
            connection,
            committed: false,
        })
    }

    async fn commit(mut self) -> Result<(), StoreError> {
        (&mut *self.connection).execute("COMMIT").await?;
        self.committed = true;
        Ok(())
    }
}

impl Deref for Tx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.connection
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.connection
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if !self.committed {
            // Closing a connection ends its transaction (a rollback), on
            // both databases, whatever state the driver thinks it is in.
            self.connection.close_on_drop();
        }
    }
}

/// A statement with its values bound.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, Any, AnyArguments<'q>>;

/// How long transient failures are retried in all, and the pauses between.
const RETRY_FOR: Duration = Duration::from_secs(10);
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const LONGEST_PAUSE: Duration = Duration::from_millis(500);

impl Store {
    /// Runs `body` holding the write turn; again while it fails transiently.
    /// `body` makes its statements on `self.pool`, without a transaction.
    pub(crate) async fn write<T, Fut>(&self, mut body: impl FnMut() -> Fut) -> Result<T, StoreError>
    where
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut backoff = Backoff::default();
        loop {
            let result = {
                let _turn = self.write_turn().await;
                body().await
            };
            match result {
                Err(error) if backoff.pause_before_retry(&error).await => {}
                result => return result,
            }
        }
    }

    /// Runs one statement, `sql` with the values `bind` adds, holding the
    /// write turn; again while it fails transiently. Returns the rows it
    /// affected.
    pub(crate) async fn write_rows<'q>(
        &self,
        sql: &'q str,
        bind: impl Fn(AnyQuery<'q>) -> AnyQuery<'q>,
    ) -> Result<u64, StoreError> {
        self.write(|| async {
            Ok(bind(sqlx::query(sql))
                .execute(&self.pool)
                .await?
                .rows_affected())
        })
        .await
    }

    /// Runs `body` in one transaction holding the write turn: `body` gets
    /// the transaction and gives it back with its value, and the helper
    /// commits; on an error it is rolled back. The whole transaction runs
    /// again while it fails transiently, so `body` must not keep state from
    /// an attempt that was rolled back.
    pub(crate) async fn write_tx<T, Fut>(
        &self,
        mut body: impl FnMut(Tx) -> Fut,
    ) -> Result<T, StoreError>
    where
        Fut: Future<Output = Result<(Tx, T), StoreError>>,
    {
        let mut backoff = Backoff::default();
        loop {
            let result = async {
                let _turn = self.write_turn().await;
                let tx = Tx::begin(self.pool.acquire().await?).await?;
                let (tx, value) = body(tx).await?;
                tx.commit().await?;
                Ok(value)
            }
            .await;
            match result {
                Err(error) if backoff.pause_before_retry(&error).await => {}
                result => return result,
            }
        }
    }

    /// This process's turn to write, on SQLite.
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite => Some(self.write_lock.lock().await),
            Backend::Postgres => None,
        }
    }
}

/// Paces retries of transient errors.
struct Backoff {
    pause: Duration,
    waited: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            pause: FIRST_PAUSE,
            waited: Duration::ZERO,
        }
    }
}

impl Backoff {
    /// Pauses and returns true if `error` is transient and time is left.
    async fn pause_before_retry(&mut self, error: &StoreError) -> bool {
        if !error.is_transient() || self.waited >= RETRY_FOR {
            return false;
        }
        tracing::debug!("retrying a transient database error: {error}");
        tokio::time::sleep(self.pause).await;
        self.waited += self.pause;
        self.pause = (self.pause * 2).min(LONGEST_PAUSE);
        true
    }
}
