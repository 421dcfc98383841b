//! Start-up fails fast, naming the file, key or database and the reason.

use crate::support::{carillon, scratch_file};

fn serve_with(config: &str) -> crate::support::CliOutput {
    let (_dir, path) = scratch_file("carillon.toml", config.as_bytes());
    carillon(&["serve", "--config", path.to_str().unwrap()])
}

#[test]
fn an_unknown_config_key_is_named() {
    let out = serve_with("[scheduler]\npol_interval = \"1s\"\n");
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("carillon.toml"), "{}", out.stderr);
    assert!(
        out.stderr.contains("unknown key `scheduler.pol_interval`"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_bad_duration_is_named_with_its_key() {
    let out = serve_with("[scheduler]\nmisfire_threshold = \"a while\"\n");
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("key `scheduler.misfire_threshold`: `a while` is not a valid duration"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_unreadable_config_file_is_named() {
    let out = carillon(&["serve", "--config", "/no/such/dir/carillon.toml"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("cannot read config file /no/such/dir/carillon.toml"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_unreachable_database_fails_fast() {
    let out = carillon(&[
        "serve",
        "--database",
        "postgres://nobody@127.0.0.1:9/nothing",
        "--plugins",
        "/tmp",
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("cannot open database postgres://nobody@127.0.0.1:9/nothing"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_corrupt_database_file_fails_fast() {
    let (dir, path) = scratch_file("carillon.db", &[0x42; 8192]);
    let url = format!("sqlite://{}", path.display());
    let plugins = dir.path().join("plugins");
    let out = carillon(&[
        "serve",
        "--database",
        &url,
        "--plugins",
        plugins.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(&format!("database {url}")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("not a database"), "{}", out.stderr);
}

#[test]
fn an_unsupported_database_url_says_what_is_supported() {
    let out = carillon(&["task", "list", "--database", "mysql://x/y"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("use `sqlite://FILE` or `postgres://"),
        "{}",
        out.stderr
    );
}
