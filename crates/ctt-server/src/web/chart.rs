//! Charts as inline SVG, drawn here: no chart library, no script.
//!
//! Every bar and column is a link to the event list it counts, carries its
//! key and count as `data-key`/`data-count` (what the browser tests compare
//! with `/stats`), and names itself for screen readers. Sizes are SVG
//! attributes, not `style` (the Content-Security-Policy forbids inline styles);
//! colours come from the stylesheet.

use maud::{Markup, html};

use super::layout::number;

/// One bar: a group of `/stats` and where its events are listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// The group's key, as `/stats` answers it.
    pub key: String,
    /// What the reader sees (the key, or a placeholder for `""`).
    pub label: String,
    pub count: u64,
    /// The event list of this group; `None` for an empty time bucket.
    pub href: Option<String>,
}

/// Horizontal bars, largest first: label, bar, count — one link per row.
pub fn bars(id: &str, caption: &str, bars: &[Bar], more: Option<Markup>) -> Markup {
    let max = bars.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    html! {
        figure.chart.bars #(id) data-chart=(id) {
            figcaption { (caption) }
            ol {
                @for bar in bars {
                    @let width = bar_width(bar.count, max);
                    li {
                        a href=(bar.href.as_deref().unwrap_or("#")) data-key=(bar.key) data-count=(bar.count)
                            aria-label=(format!("{}: {} events", bar.label, number(bar.count))) {
                            span.label title=(bar.label) { (bar.label) }
                            svg.bar viewBox="0 0 1000 10" preserveAspectRatio="none" aria-hidden="true" focusable="false" {
                                rect width=(width) height="10" rx="2" {}
                            }
                            span.count { (number(bar.count)) }
                        }
                    }
                }
            }
            @if let Some(more) = more { (more) }
        }
    }
}

fn bar_width(count: u64, max: u64) -> String {
    if count == 0 {
        return "0".to_owned();
    }
    let width = (count as f64 / max as f64 * 1000.0).max(6.0);
    format!("{width:.1}")
}

/// Columns over time (hours or days, empty ones included), each a link to
/// the events of its bucket.
pub fn columns(id: &str, caption: &str, unit: &str, columns: &[Bar]) -> Markup {
    let max = columns.iter().map(|c| c.count).max().unwrap_or(0).max(1);
    let n = columns.len().max(1);
    // 10 units per column, 8 drawn: a gap between columns.
    let width = n * 10;
    let first = columns.first().map(|c| c.label.as_str()).unwrap_or("");
    let last = columns.last().map(|c| c.label.as_str()).unwrap_or("");
    html! {
        figure.chart.columns #(id) data-chart=(id) {
            figcaption { (caption) }
            div.plot {
                span.ymax { "max " (number(max)) " / " (unit) }
                svg viewBox=(format!("0 0 {width} 100")) preserveAspectRatio="none" role="group"
                    aria-label=(caption) {
                    @for (i, column) in columns.iter().enumerate() {
                        @let x = i * 10;
                        @let height = column.count as f64 / max as f64 * 100.0;
                        @let height = if column.count > 0 { height.max(1.5) } else { 0.0 };
                        @let name = format!("{}: {} events", column.label, number(column.count));
                        @match &column.href {
                            Some(href) => {
                                a href=(href) data-key=(column.key) data-count=(column.count) aria-label=(name) {
                                    title { (name) }
                                    rect.hit x=(x) y="0" width="10" height="100" {}
                                    rect.col x=(x + 1) y=(format!("{:.2}", 100.0 - height)) width="8" height=(format!("{height:.2}")) {}
                                }
                            }
                            None => {
                                rect.zero x=(x + 1) y="99.5" width="8" height="0.5" data-key=(column.key) data-count="0" {}
                            }
                        }
                    }
                }
            }
            div.axis aria-hidden="true" {
                span { (first) }
                span { (last) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(key: &str, count: u64) -> Bar {
        Bar {
            key: key.into(),
            label: key.into(),
            count,
            href: Some(format!("/ui/events?service={key}")),
        }
    }

    #[test]
    fn bars_are_links_with_their_counts() {
        let html = bars(
            "services",
            "Events per service",
            &[bar("ec2", 12), bar("s3", 3)],
            None,
        )
        .into_string();
        assert!(html.contains(r#"href="/ui/events?service=ec2" data-key="ec2" data-count="12""#));
        assert!(html.contains(r#"<rect width="1000.0""#), "{html}");
        assert!(html.contains(r#"<rect width="250.0""#), "{html}");
        assert!(!html.contains("style="), "no inline styles: {html}");
    }

    #[test]
    fn labels_are_escaped() {
        let html = bars(
            "users",
            "u",
            &[bar("<img src=x onerror=alert(1)>", 1)],
            None,
        )
        .into_string();
        assert!(!html.contains("<img"), "{html}");
    }

    #[test]
    fn empty_columns_are_not_links() {
        let mut empty = bar("2018-06-15T11:00:00Z", 0);
        empty.href = None;
        let html = columns(
            "activity",
            "Activity",
            "hour",
            &[empty, bar("2018-06-15T12:00:00Z", 5)],
        )
        .into_string();
        assert_eq!(html.matches("<a ").count(), 1, "{html}");
        assert!(html.contains(r#"data-count="5""#));
    }
}
