//! `notify`: POSTs `{"text": …}` as JSON to the URL in its `url` param with
//! `Authorization: Bearer` and the secret named by `token_secret` (default
//! `notify_token`). Its task must grant the URL's host in `allowed_hosts`
//! and the secret in `secrets`. The token never reaches the run's log.

use carillon_guest::{Context, JobError, Outcome, export_job, http, info};

fn run(ctx: &Context) -> Result<Outcome, JobError> {
    let url: String = ctx.param("url")?;
    let text: String = ctx.param_or("text", format!("{} ran", ctx.task()))?;
    let secret: String = ctx.param_or("token_secret", "notify_token".to_owned())?;
    let token = carillon_guest::secret(&secret)?;
    let body = format!("{{\"text\": {}}}", json_string(&text));
    let answer = http::Request::post(&url)
        .bearer(&token)
        .json(&body)
        .send()?
        .ok()?;
    info!(status = answer.status; "notified {url}");
    Ok(Outcome::items(1).with_summary(format!("notified {url}: {}", answer.status)))
}

/// `text` as a JSON string.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

export_job!(run);
