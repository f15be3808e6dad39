//! `format=ndjson` and `format=csv`: the whole result of a query, streamed.
//!
//! The body is produced page by page (the store's cursor, [`PAGE`] events at a
//! time) by a task of its own, [`AHEAD`] chunks ahead of the connection: the
//! next pages are read and written while the last one is being sent (on two
//! cores, reading and sending each take one), memory stays bounded whatever
//! the result's size, and a slow client slows the reads instead of filling
//! memory; a client that goes away stops them. The status (200) is sent
//! before the first page is read: if the store fails midway, the error is
//! logged and the body is cut off (the client sees an incomplete transfer,
//! never a complete-looking file).

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ctt_core::query::{Cursor, Format};
use ctt_core::{EventQuery, EventSummary};
use ctt_store::{JsonLayout, StoreError};

use crate::ScopedStore;
use futures_util::stream;

/// Events read from the store per chunk of the body.
pub const PAGE: u32 = 5_000;

/// Chunks written ahead of the one being sent.
const AHEAD: usize = 2;

/// Where the export is.
struct Progress {
    store: ScopedStore,
    query: EventQuery,
    format: Format,
    cursor: Option<Cursor>,
    header_written: bool,
    done: bool,
}

/// The streamed response for `format` (ndjson or csv); see
/// [`ScopedStore::export`].
pub(crate) fn response(
    store: ScopedStore,
    query: EventQuery,
    cursor: Option<Cursor>,
    format: Format,
) -> Response {
    let content_type = match format {
        Format::Csv => "text/csv; charset=utf-8",
        Format::Ndjson | Format::Json => "application/x-ndjson",
    };
    let mut progress = Progress {
        store,
        query,
        format,
        cursor,
        header_written: false,
        done: false,
    };
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, StoreError>>(AHEAD);
    tokio::spawn(async move {
        loop {
            let chunk = match progress.next_chunk().await {
                Ok(Some(chunk)) => Ok(chunk),
                Ok(None) => return,
                Err(e) => Err(e),
            };
            let failed = chunk.is_err();
            // The receiver is gone when the client is: stop reading.
            if sender.send(chunk).await.is_err() || failed {
                return;
            }
        }
    });
    // Polled again after its end (a compression layer does), it says "ended"
    // again.
    let mut receiver = receiver;
    let chunks = stream::poll_fn(move |cx| receiver.poll_recv(cx));
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        Body::from_stream(chunks),
    )
        .into_response()
}

impl Progress {
    /// The next chunk of the body, or `None` after the last.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let mut chunk = Vec::new();
        let header = !self.header_written;
        self.header_written = true;
        let next = match self.format {
            Format::Csv => {
                let page = self
                    .store
                    .events(&self.query, PAGE, self.cursor.as_ref())
                    .await
                    .inspect_err(
                        |e| tracing::error!(error = %e, "export stopped: the store failed"),
                    )?;
                chunk.reserve(page.events.len() * 300);
                // One writer for the chunk: its buffer is reused row after row.
                let mut writer = csv_writer(&mut chunk);
                if header {
                    write_csv(&mut writer, &EventSummary::COLUMNS);
                }
                for event in &page.events {
                    write_csv(&mut writer, &event.row());
                }
                // Writing to a Vec cannot fail.
                let _ = writer.flush();
                drop(writer);
                page.next
            }
            // NDJSON comes serialised from the store.
            Format::Ndjson | Format::Json => {
                let page = self
                    .store
                    .events_json(&self.query, PAGE, self.cursor.as_ref(), JsonLayout::Lines)
                    .await
                    .inspect_err(
                        |e| tracing::error!(error = %e, "export stopped: the store failed"),
                    )?;
                chunk = page.json;
                page.next
            }
        };
        self.done = next.is_none();
        self.cursor = next;
        Ok(Some(Bytes::from(chunk)))
    }
}

/// A CSV writer appending to `out`: RFC 4180 quoting, `\n` line ends.
fn csv_writer(out: &mut Vec<u8>) -> csv::Writer<&mut Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(out)
}

/// Writes one CSV record, each cell neutralised against formula injection
/// ([`ctt_core::csv_cell`]).
fn write_csv<S: AsRef<str>>(writer: &mut csv::Writer<&mut Vec<u8>>, fields: &[S]) {
    // Writing to a Vec cannot fail.
    for field in fields {
        let _ = writer.write_field(ctt_core::csv_cell(field.as_ref()).as_bytes());
    }
    let _ = writer.write_record(None::<&[u8]>);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_commas_quotes_and_newlines() {
        let mut out = Vec::new();
        let mut writer = csv_writer(&mut out);
        write_csv(&mut writer, &["a", "b,c", "say \"hi\"", "two\nlines"]);
        write_csv(&mut writer, &["x", "", "", ""]);
        write_csv(&mut writer, &["=1+1", "-1", "@x", "a=b"]);
        writer.flush().expect("flush");
        drop(writer);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "a,\"b,c\",\"say \"\"hi\"\"\",\"two\nlines\"\nx,,,\n'=1+1,'-1,'@x,a=b\n"
        );
    }
}
