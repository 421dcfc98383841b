//! `users` and `sessions`: console users (a password kept as its argon2id
//! PHC string; the caller hashes and verifies) and signed-in browsers (the
//! SHA-256 of the cookie's secret, the session's CSRF token, its expiry).

use serde::Serialize;

use crate::store::{Store, StoreError};
use crate::vocab::{Grant, Role, parse_groups};

/// A user as listed: everything but the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRow {
    /// Unique name, used to sign in.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// The task groups they are limited to, if any.
    pub groups: Option<Vec<String>>,
    /// When they were added (ms).
    pub created_at: i64,
    /// When they last signed in (ms).
    pub last_login_at: Option<i64>,
}

impl UserRow {
    /// What they may do.
    pub fn grant(&self) -> Grant {
        Grant {
            role: self.role,
            groups: self.groups.clone(),
        }
    }
}

/// A session found by its secret: whose, and its CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// The user.
    pub user: UserRow,
    /// What changes through it must send in `X-CSRF-Token`.
    pub csrf_token: String,
    /// When it ends (ms).
    pub expires_at: i64,
}

#[derive(sqlx::FromRow)]
struct StoredUser {
    name: String,
    role: String,
    task_groups: Option<String>,
    created_at: i64,
    last_login_at: Option<i64>,
    password_hash: String,
}

impl StoredUser {
    fn read(self) -> Result<(UserRow, String), StoreError> {
        let name = self.name;
        let bad = |what: String| StoreError::Corrupt(format!("user `{name}`: {what}"));
        let user = UserRow {
            role: self.role.parse().map_err(bad)?,
            groups: self
                .task_groups
                .as_deref()
                .map(parse_groups)
                .transpose()
                .map_err(bad)?,
            name: name.clone(),
            created_at: self.created_at,
            last_login_at: self.last_login_at,
        };
        Ok((user, self.password_hash))
    }
}

const USER_COLUMNS: &str = "name, role, task_groups, created_at, last_login_at, password_hash";

impl Store {
    /// Adds `user` with the PHC string of their password. Returns false if
    /// the name is taken.
    pub async fn create_user(
        &self,
        user: &UserRow,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let groups = user.groups.as_ref().map(|g| g.join(","));
        let created = self
            .write_rows(
                "INSERT INTO users (name, role, task_groups, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
                |query| {
                    query
                        .bind(&user.name)
                        .bind(user.role.as_str())
                        .bind(groups.clone())
                        .bind(password_hash)
                        .bind(user.created_at)
                },
            )
            .await?;
        Ok(created > 0)
    }

    /// The user `name` and their password's PHC string.
    pub async fn user_with_password(
        &self,
        name: &str,
    ) -> Result<Option<(UserRow, String)>, StoreError> {
        let found: Option<StoredUser> =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1"))
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        found.map(StoredUser::read).transpose()
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<UserRow>, StoreError> {
        let stored: Vec<StoredUser> =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))
                .fetch_all(&self.pool)
                .await?;
        stored
            .into_iter()
            .map(|user| user.read().map(|(user, _)| user))
            .collect()
    }

    /// Removes a user and ends their sessions. Returns whether they existed.
    pub async fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        self.write_tx(|mut tx| async move {
            sqlx::query("DELETE FROM sessions WHERE user_name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            let deleted = sqlx::query("DELETE FROM users WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            Ok((tx, deleted > 0))
        })
        .await
    }

    /// Starts a session for `user` until `expires_at`, and notes the login.
    pub async fn create_session(
        &self,
        user: &str,
        secret_hash: &str,
        csrf_token: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.write_tx(|mut tx| async move {
            // Ended sessions go as new ones start.
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO sessions (secret_hash, user_name, csrf_token, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(secret_hash)
            .bind(user)
            .bind(csrf_token)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE users SET last_login_at = $1 WHERE name = $2")
                .bind(now)
                .bind(user)
                .execute(&mut *tx)
                .await?;
            Ok((tx, ()))
        })
        .await
    }

    /// The live session whose secret hashes to `secret_hash`.
    pub async fn session(
        &self,
        secret_hash: &str,
        now: i64,
    ) -> Result<Option<SessionRow>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Found {
            csrf_token: String,
            expires_at: i64,
            #[sqlx(flatten)]
            user: StoredUser,
        }
        let found: Option<Found> = sqlx::query_as(
            "SELECT s.csrf_token, s.expires_at, u.name, u.role, u.task_groups, u.created_at, \
             u.last_login_at, '' AS password_hash \
             FROM sessions s JOIN users u ON u.name = s.user_name \
             WHERE s.secret_hash = $1 AND s.expires_at > $2",
        )
        .bind(secret_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(found) = found else { return Ok(None) };
        let (user, _) = found.user.read()?;
        Ok(Some(SessionRow {
            user,
            csrf_token: found.csrf_token,
            expires_at: found.expires_at,
        }))
    }

    /// Ends the session whose secret hashes to `secret_hash`.
    pub async fn end_session(&self, secret_hash: &str) -> Result<(), StoreError> {
        self.write_rows("DELETE FROM sessions WHERE secret_hash = $1", |query| {
            query.bind(secret_hash)
        })
        .await?;
        Ok(())
    }
}
