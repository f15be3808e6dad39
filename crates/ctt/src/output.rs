//! Printing results: table (on a terminal), json (the API's body), ndjson, csv.
//!
//! Every CSV cell goes through [`ctt_core::csv_cell`] (formula injection), as in
//! the API's export.

use std::io::{self, BufWriter, IsTerminal, Stdout, Write};

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use ctt_core::{EventSummary, printable};
use serde::Serialize;

use crate::cli::OutputFormat;

/// The format asked for, else table on a terminal and json otherwise.
pub fn resolve(format: Option<OutputFormat>) -> OutputFormat {
    format.unwrap_or(if io::stdout().is_terminal() {
        OutputFormat::Table
    } else {
        OutputFormat::Json
    })
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    table
}

/// Writes events one at a time, so exports run in constant memory (but tables,
/// which need every row to size their columns).
pub struct EventWriter {
    format: OutputFormat,
    out: BufWriter<Stdout>,
    written: u64,
    table: Option<Table>,
    csv: Option<csv::Writer<BufWriter<Stdout>>>,
}

const TABLE_COLUMNS: [&str; 7] = [
    "eventTime (UTC)",
    "user",
    "service",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "errorCode",
];

impl EventWriter {
    pub fn new(format: OutputFormat) -> io::Result<Self> {
        let mut writer = Self {
            format,
            out: BufWriter::new(io::stdout()),
            written: 0,
            table: None,
            csv: None,
        };
        match format {
            OutputFormat::Table => writer.table = Some(table(&TABLE_COLUMNS)),
            OutputFormat::Json => writer.out.write_all(b"[")?,
            OutputFormat::Ndjson => {}
            OutputFormat::Csv => {
                let mut csv = csv::Writer::from_writer(BufWriter::new(io::stdout()));
                ctt_core::write_csv_row(&mut csv, EventSummary::COLUMNS)?;
                writer.csv = Some(csv);
            }
        }
        Ok(writer)
    }

    pub fn write(&mut self, event: &EventSummary) -> io::Result<()> {
        match self.format {
            OutputFormat::Table => {
                if let Some(table) = &mut self.table {
                    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
                    table.add_row([
                        event.event_time.clone(),
                        event.user.clone(),
                        event.service.clone(),
                        event.event_name.clone(),
                        opt(&event.aws_region),
                        opt(&event.source_ip_address),
                        opt(&event.error_code),
                    ]);
                }
            }
            OutputFormat::Json => {
                if self.written > 0 {
                    self.out.write_all(b",")?;
                }
                serde_json::to_writer(&mut self.out, event)?;
            }
            OutputFormat::Ndjson => {
                serde_json::to_writer(&mut self.out, event)?;
                self.out.write_all(b"\n")?;
            }
            OutputFormat::Csv => {
                if let Some(csv) = &mut self.csv {
                    ctt_core::write_csv_row(csv, event.row())?;
                }
            }
        }
        self.written += 1;
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<()> {
        match self.format {
            OutputFormat::Table => {
                if self.written == 0 {
                    writeln!(
                        self.out,
                        "no events match: widen --from/--to (default: the last 7 days)"
                    )?;
                } else if let Some(table) = &self.table {
                    writeln!(self.out, "{table}")?;
                    writeln!(self.out, "{} events", self.written)?;
                }
            }
            OutputFormat::Json => self.out.write_all(b"]\n")?,
            OutputFormat::Ndjson => {}
            OutputFormat::Csv => {
                if let Some(csv) = &mut self.csv {
                    csv.flush()?;
                }
            }
        }
        self.out.flush()
    }
}

/// Prints a list of records: `rows` for table and csv, `items` for json/ndjson.
/// Table and CSV cells are shown [`printable`]: keys and names come from
/// whoever wrote the files, and a control character in one would reach the
/// terminal raw. JSON escapes them itself.
pub fn records<T: Serialize>(
    format: OutputFormat,
    header: &[&str],
    rows: Vec<Vec<String>>,
    items: &[T],
) -> io::Result<()> {
    let mut out = BufWriter::new(io::stdout());
    match format {
        OutputFormat::Table => {
            if rows.is_empty() {
                writeln!(out, "nothing to show")?;
            } else {
                let mut t = table(header);
                for row in rows {
                    t.add_row(row.iter().map(|cell| printable(cell)));
                }
                writeln!(out, "{t}")?;
            }
        }
        OutputFormat::Json => {
            serde_json::to_writer(&mut out, items)?;
            writeln!(out)?;
        }
        OutputFormat::Ndjson => {
            for item in items {
                serde_json::to_writer(&mut out, item)?;
                writeln!(out)?;
            }
        }
        OutputFormat::Csv => {
            let mut csv = csv::Writer::from_writer(&mut out);
            ctt_core::write_csv_row(&mut csv, header)?;
            for row in rows {
                ctt_core::write_csv_row(&mut csv, row.iter().map(|cell| printable(cell)))?;
            }
            csv.flush()?;
        }
    }
    out.flush()
}
