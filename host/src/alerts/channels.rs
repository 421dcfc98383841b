//! What each kind of channel is sent: a generic webhook gets the alert as
//! JSON; Slack, Feishu, DingTalk and WeCom get their robots' text message
//! formats (DingTalk and WeCom @-mention the task's keepers by mobile;
//! DingTalk and Feishu signed with the channel's secret, as their robots
//! check); e-mail goes to the channel's addresses, else the task's
//! keepers'. And how each answers: these robots say 200 with an error code
//! in the body when they refuse a message.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::secrets::hmac_sha256;
use crate::store::KeeperRow;
use crate::vocab::{AlertNotice, ChannelKind, percent_encode};

/// What to send for one delivery.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Message {
    /// A POST of `body` (JSON) to `url`.
    Post {
        /// Where.
        url: String,
        /// What.
        body: Value,
    },
    /// An e-mail.
    Email {
        /// To whom.
        to: Vec<String>,
        /// Its subject.
        subject: String,
        /// Its text.
        body: String,
    },
}

/// The message for `notice` on a channel of `kind` to `target`, signed with
/// `secret` if given, mentioning `keepers`, at `now_ms`; or why there is
/// none.
pub(crate) fn message(
    kind: ChannelKind,
    target: &str,
    notice: &AlertNotice,
    keepers: &[KeeperRow],
    secret: Option<&str>,
    now_ms: i64,
) -> Result<Message, String> {
    let text = notice.text();
    let mobiles: Vec<String> = keepers.iter().filter_map(|k| k.mobile.clone()).collect();
    let post = |url: String, body: Value| Ok(Message::Post { url, body });
    match kind {
        ChannelKind::Webhook => post(target.to_owned(), json!({"alert": notice, "text": text})),
        ChannelKind::Slack => post(target.to_owned(), json!({"text": text})),
        ChannelKind::WeCom => post(
            target.to_owned(),
            json!({"msgtype": "text", "text": {"content": text, "mentioned_mobile_list": mobiles}}),
        ),
        ChannelKind::DingTalk => {
            let mut url = target.to_owned();
            if let Some(secret) = secret {
                let (timestamp, sign) = dingtalk_sign(secret, now_ms);
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(&format!("timestamp={timestamp}&sign={sign}"));
            }
            post(
                url,
                json!({"msgtype": "text", "text": {"content": text},
                    "at": {"atMobiles": mobiles, "isAtAll": false}}),
            )
        }
        ChannelKind::Feishu => {
            let mut body = json!({"msg_type": "text", "content": {"text": text}});
            if let Some(secret) = secret {
                let seconds = now_ms.div_euclid(1000);
                body["timestamp"] = json!(seconds.to_string());
                body["sign"] = json!(feishu_sign(secret, seconds));
            }
            post(target.to_owned(), body)
        }
        ChannelKind::Email => {
            let addresses = |list: &str| -> Vec<String> {
                list.split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect()
            };
            let mut to = addresses(target);
            if to.is_empty() {
                to = keepers
                    .iter()
                    .filter_map(|k| k.email.as_deref())
                    .flat_map(addresses)
                    .collect();
            }
            if to.is_empty() {
                return Err(
                    "no address: give the channel addresses (its target), or the task keepers with an e-mail"
                        .to_owned(),
                );
            }
            Ok(Message::Email {
                to,
                subject: notice.title(),
                body: text,
            })
        }
    }
}

/// DingTalk's signature: `timestamp` (ms) and the URL-encoded base64 of
/// HMAC-SHA256(secret, "timestamp\nsecret").
fn dingtalk_sign(secret: &str, now_ms: i64) -> (i64, String) {
    let signed = hmac_sha256(secret.as_bytes(), format!("{now_ms}\n{secret}").as_bytes());
    let encoded = base64::engine::general_purpose::STANDARD.encode(signed);
    (now_ms, percent_encode(&encoded))
}

/// Feishu's signature: base64 of HMAC-SHA256 keyed with
/// "timestamp\nsecret" over nothing (timestamp in seconds).
fn feishu_sign(secret: &str, seconds: i64) -> String {
    let signed = hmac_sha256(format!("{seconds}\n{secret}").as_bytes(), b"");
    base64::engine::general_purpose::STANDARD.encode(signed)
}

/// Whether an answer with a 2xx status refuses the message anyway, as
/// these robots do: `errcode` (DingTalk, WeCom) or `code` (Feishu) not 0.
pub(crate) fn refusal(kind: ChannelKind, body: &[u8]) -> Option<String> {
    if !matches!(
        kind,
        ChannelKind::DingTalk | ChannelKind::WeCom | ChannelKind::Feishu
    ) {
        return None;
    }
    let answer: Value = serde_json::from_slice(body).ok()?;
    let code = answer
        .get("errcode")
        .or_else(|| answer.get("code"))
        .and_then(Value::as_i64)?;
    (code != 0).then(|| {
        let why = answer
            .get("errmsg")
            .or_else(|| answer.get("msg"))
            .and_then(Value::as_str)
            .unwrap_or("no message");
        format!("the {kind} robot refused it: code {code}, {why}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::AlertEvent;

    fn notice() -> AlertNotice {
        AlertNotice {
            id: 7,
            rule: "ops".into(),
            event: AlertEvent::Failed,
            task: "nightly".into(),
            run_id: Some(42),
            message: "boom".into(),
            raised_at: 1_700_000_000_000,
            suppressed_before: 0,
            link: None,
        }
    }

    fn keeper(mobile: &str, email: &str) -> KeeperRow {
        KeeperRow {
            name: "ada".into(),
            email: Some(email.into()),
            mobile: Some(mobile.into()),
            description: None,
        }
    }

    #[test]
    fn each_robot_gets_its_own_format() {
        let keepers = [keeper("13800000000", "ada@example.com")];
        let body = |kind| match message(kind, "https://hook", &notice(), &keepers, None, 0).unwrap()
        {
            Message::Post { body, .. } => body,
            other => panic!("{other:?}"),
        };
        assert_eq!(body(ChannelKind::Slack)["text"], notice().text());
        assert_eq!(body(ChannelKind::Webhook)["alert"]["run_id"], 42);
        assert_eq!(body(ChannelKind::Webhook)["alert"]["event"], "failed");
        let wecom = body(ChannelKind::WeCom);
        assert_eq!(wecom["msgtype"], "text");
        assert_eq!(wecom["text"]["mentioned_mobile_list"][0], "13800000000");
        let dingtalk = body(ChannelKind::DingTalk);
        assert_eq!(dingtalk["at"]["atMobiles"][0], "13800000000");
        assert_eq!(body(ChannelKind::Feishu)["msg_type"], "text");
    }

    #[test]
    fn dingtalk_and_feishu_are_signed_as_their_robots_check() {
        // Known answers computed with Python's hmac and base64.
        match message(
            ChannelKind::DingTalk,
            "https://oapi.dingtalk.com/robot/send?access_token=t",
            &notice(),
            &[],
            Some("SECxyz"),
            1_700_000_000_000,
        )
        .unwrap()
        {
            Message::Post { url, .. } => assert_eq!(
                url,
                "https://oapi.dingtalk.com/robot/send?access_token=t&timestamp=1700000000000\
                 &sign=0PUR1j8g85Xg3vlFV%2FUrEcxXfF5HpCAGzcjrNfyJoyg%3D"
            ),
            other => panic!("{other:?}"),
        }
        match message(
            ChannelKind::Feishu,
            "https://open.feishu.cn/hook",
            &notice(),
            &[],
            Some("secret"),
            1_700_000_000_123,
        )
        .unwrap()
        {
            Message::Post { body, .. } => {
                assert_eq!(body["timestamp"], "1700000000");
                assert_eq!(body["sign"], "fiWS2+gh28DOydAv7hzONH/mDn9+b1Y4Y5ivXWXy8vA=");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn email_goes_to_the_channel_or_the_keepers_and_says_when_to_no_one() {
        let keepers = [
            keeper("1", "ada@example.com"),
            keeper("2", "bo@example.com, cy@example.com"),
        ];
        match message(ChannelKind::Email, "", &notice(), &keepers, None, 0).unwrap() {
            Message::Email { to, subject, .. } => {
                assert_eq!(to, ["ada@example.com", "bo@example.com", "cy@example.com"]);
                assert_eq!(subject, "[Carillon] failed: task nightly (run 42)");
            }
            other => panic!("{other:?}"),
        }
        match message(
            ChannelKind::Email,
            "ops@example.com, b@example.com",
            &notice(),
            &keepers,
            None,
            0,
        )
        .unwrap()
        {
            Message::Email { to, .. } => assert_eq!(to, ["ops@example.com", "b@example.com"]),
            other => panic!("{other:?}"),
        }
        assert!(message(ChannelKind::Email, "", &notice(), &[], None, 0).is_err());
    }

    #[test]
    fn robots_that_answer_200_with_an_error_code_are_read_as_refusing() {
        assert_eq!(
            refusal(
                ChannelKind::DingTalk,
                br#"{"errcode":310000,"errmsg":"sign not match"}"#
            )
            .as_deref(),
            Some("the dingtalk robot refused it: code 310000, sign not match")
        );
        assert_eq!(
            refusal(ChannelKind::WeCom, br#"{"errcode":0,"errmsg":"ok"}"#),
            None
        );
        assert!(
            refusal(
                ChannelKind::Feishu,
                br#"{"code":19021,"msg":"sign match fail"}"#
            )
            .is_some()
        );
        assert_eq!(refusal(ChannelKind::Slack, b"ok"), None);
    }
}
