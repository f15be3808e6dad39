//! Text made safe for a terminal: file names, keys and reasons come from
//! whoever wrote the files, and a name holding an escape sequence (`ESC [ …`), a
//! newline or a bidirectional override would otherwise reach the terminal raw —
//! recolour it, move the cursor, forge lines, reorder what is shown.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character (C0, DEL, C1), bidirectional control
/// and invisible format character escaped as Rust writes them (`\n`, `\t`,
/// `\u{1b}`); everything else, backslashes included, is kept as is. Borrowed
/// when there is nothing to escape (nearly always).
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Arabic letter mark; zero-width and directional marks.
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                // Embeddings and overrides; word joiner and invisible operators.
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                // Isolates; the byte-order mark.
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidirectional_characters_are_escaped() {
        let cases = [
            ("plain/key.json.gz", "plain/key.json.gz"),
            ("caf\u{e9} \\ \"q\"", "caf\u{e9} \\ \"q\""),
            ("a\nb\r\tc", "a\\nb\\r\\tc"),
            ("\u{1b}[31mred\u{1b}[0m", "\\u{1b}[31mred\\u{1b}[0m"),
            ("csi\u{9b}2J del\u{7f}", "csi\\u{9b}2J del\\u{7f}"),
            ("evil\u{202e}gpj.exe", "evil\\u{202e}gpj.exe"),
            ("zero\u{200b}width", "zero\\u{200b}width"),
        ];
        for (text, shown) in cases {
            assert_eq!(printable(text), shown, "{text:?}");
        }
        assert!(matches!(printable("nothing to do"), Cow::Borrowed(_)));
    }
}
