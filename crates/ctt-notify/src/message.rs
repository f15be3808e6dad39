//! What a destination receives. Every string of an alert but its level comes
//! from a record or a rule file, so from whoever wrote them: control
//! characters are removed and, in Slack's `text`, `&`, `<` and `>` escaped
//! (Slack reads `<…>` as links and mentions such as `<!channel>`).

use ctt_core::time::format_event_time;
use ctt_store::Alert;
use serde_json::{Value, json};

/// One line, no control characters, at most `max` characters.
pub fn clean(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

/// Slack's escaping of `&`, `<`, `>`.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The alert in one line, plain: `[HIGH] Title: user called eventName
/// (service) at time, eventID id`.
pub fn line(alert: &Alert) -> String {
    format!(
        "[{}] {}: {} called {} ({}) at {}, eventID {}",
        alert.level.to_uppercase(),
        clean(&alert.title, 200),
        clean(&alert.user, 200),
        clean(&alert.event_name, 100),
        clean(&alert.service, 100),
        format_event_time(alert.event_time),
        clean(&alert.event_id, 100),
    )
}

/// The webhook's JSON: Slack's `text`, then the alert without its record
/// (`id` is the deduplication key).
pub fn webhook_body(alert: &Alert) -> Value {
    json!({
        "text": slack_escape(&line(alert)),
        "id": alert.id,
        "rule": alert.rule_id,
        "title": alert.title,
        "level": alert.level,
        "tags": alert.tags,
        "eventID": alert.event_id,
        "eventTime": format_event_time(alert.event_time),
        "user": alert.user,
        "service": alert.service,
        "eventName": alert.event_name,
    })
}

/// An email's (or an SNS message's) subject: ASCII-safe, one line, at most
/// 100 characters (SNS's limit).
pub fn subject(alert: &Alert) -> String {
    let text = format!(
        "[ctt] {}: {} ({})",
        alert.level.to_uppercase(),
        clean(&alert.title, 60),
        clean(&alert.user, 40)
    );
    let ascii: String = text
        .chars()
        .map(|c| if c.is_ascii() { c } else { '?' })
        .collect();
    ascii.chars().take(100).collect()
}

/// An email's (or an SNS message's) body: the line, then the fields.
pub fn body(alert: &Alert) -> String {
    format!(
        "{}\n\nrule:      {}\nlevel:     {}\ntags:      {}\nuser:      {}\nservice:   {}\neventName: {}\neventTime: {}\neventID:   {}\nalert id:  {}\n",
        line(alert),
        clean(&alert.rule_id, 100),
        alert.level,
        clean(&alert.tags.join(", "), 300),
        clean(&alert.user, 200),
        clean(&alert.service, 100),
        clean(&alert.event_name, 100),
        format_event_time(alert.event_time),
        clean(&alert.event_id, 100),
        clean(&alert.id, 200),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn alert(user: &str) -> Alert {
        Alert {
            id: "r1:e1".into(),
            rule_id: "r1".into(),
            title: "Root activity".into(),
            level: "high".into(),
            tags: vec!["attack.t1078".into()],
            event_id: "e1".into(),
            event_time: chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("time"),
            user: user.into(),
            service: "signin".into(),
            event_name: "ConsoleLogin".into(),
            record: json!({}).into(),
            baseline: None,
        }
    }

    #[test]
    fn slack_text_cannot_mention_or_link_and_lines_cannot_break() {
        let body = webhook_body(&alert("<!channel> <https://evil|click>\r\nBcc: x"));
        let text = body["text"].as_str().expect("text");
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        assert!(text.contains("&lt;!channel&gt;"));
        assert!(!text.contains('\n') && !text.contains('\r'));
        assert_eq!(body["id"], "r1:e1");
        assert!(text.starts_with("[HIGH] Root activity: "));
        let subject = subject(&alert("ålice\nBcc: x"));
        assert!(!subject.contains('\n') && subject.is_ascii(), "{subject}");
        assert!(subject.len() <= 100);
    }
}
