//! Cells of CSV exports, neutralised against formula injection.
//!
//! Event strings are attacker-controlled — a `userAgent`, an `errorMessage`, an
//! IAM user name (which may contain `+=,.@-`) — and a spreadsheet opening a CSV
//! export evaluates a cell starting with `=`, `+`, `-` or `@` as a formula:
//! `=HYPERLINK("http://evil","x")`. As OWASP's CSV injection guidance recommends,
//! [`csv_cell`] prefixes such a cell (and one starting with a tab, a carriage
//! return, or a NUL, per OWASP ASVS 1.2.10) with a single quote, which
//! spreadsheets read as "this is text". Every CSV the project writes — the API's
//! `format=csv` export and the CLI's `--format csv` — passes each cell through it;
//! quoting (RFC 4180) is left to the `csv` writer. The price: a value such as
//! `-1`, `+44…` or `-` reads back with a leading `'` (docs/api.md, Exports).

use std::borrow::Cow;
use std::io::Write;

/// The first characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\0'];

/// `value` as a CSV cell: prefixed with `'` when it starts like a formula,
/// unchanged (and not copied) otherwise.
pub fn csv_cell(value: &str) -> Cow<'_, str> {
    if value.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// A CSV writer appending to `out`: RFC 4180 quoting, `\n` line ends (the
/// API's exports, written page by page).
pub fn csv_writer(out: &mut Vec<u8>) -> csv::Writer<&mut Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(out)
}

/// Writes one CSV record, each cell through [`csv_cell`].
pub fn write_csv_row<W: Write>(
    csv: &mut csv::Writer<W>,
    cells: impl IntoIterator<Item = impl AsRef<str>>,
) -> csv::Result<()> {
    for cell in cells {
        csv.write_field(csv_cell(cell.as_ref()).as_bytes())?;
    }
    csv.write_record(None::<&[u8]>)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_commas_quotes_and_newlines() {
        let mut out = Vec::new();
        let mut writer = csv_writer(&mut out);
        for row in [
            ["a", "b,c", "say \"hi\"", "two\nlines"],
            ["x", "", "", ""],
            ["=1+1", "-1", "@x", "a=b"],
        ] {
            write_csv_row(&mut writer, row).expect("write");
        }
        writer.flush().expect("flush");
        drop(writer);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "a,\"b,c\",\"say \"\"hi\"\"\",\"two\nlines\"\nx,,,\n'=1+1,'-1,'@x,a=b\n"
        );
    }

    #[test]
    fn cells_starting_like_a_formula_get_a_quote_and_others_are_kept() {
        for (value, cell) in [
            (
                "=HYPERLINK(\"http://evil\",\"x\")",
                "'=HYPERLINK(\"http://evil\",\"x\")",
            ),
            ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
            ("-1", "'-1"),
            ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("\0=1", "'\0=1"),
            ("aws-cli/2.0 (=x)", "aws-cli/2.0 (=x)"),
            ("alice@example.com", "alice@example.com"),
            (" =1", " =1"),
            ("'=already", "'=already"),
            ("", ""),
        ] {
            assert_eq!(csv_cell(value), cell, "{value:?}");
        }
        assert!(matches!(csv_cell("plain"), Cow::Borrowed(_)));
    }
}
