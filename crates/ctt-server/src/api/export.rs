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
use ctt_store::{PageLayout, StoreError};

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
        if self.format == Format::Csv && !self.header_written {
            // The header, once, as the export's first chunk.
            self.header_written = true;
            let mut header = Vec::with_capacity(200);
            let mut writer = ctt_core::csv_writer(&mut header);
            // Writing to a Vec cannot fail.
            let _ = ctt_core::write_csv_row(&mut writer, EventSummary::COLUMNS);
            let _ = writer.flush();
            drop(writer);
            return Ok(Some(Bytes::from(header)));
        }
        let layout = match self.format {
            Format::Csv => PageLayout::Csv,
            Format::Ndjson | Format::Json => PageLayout::Lines,
        };
        // Serialised by the store, straight from its rows.
        let page = self
            .store
            .events_written(&self.query, PAGE, self.cursor.as_ref(), layout)
            .await
            .inspect_err(|e| tracing::error!(error = %e, "export stopped: the store failed"))?;
        let next = page.next;
        self.done = next.is_none();
        self.cursor = next;
        Ok(Some(Bytes::from(page.bytes)))
    }
}
