//! From a file's bytes to records: gzip (capped against decompression bombs), then
//! one of three JSON shapes — `{"Records": [...]}` (what CloudTrail writes), a bare
//! list of records (exports), or NDJSON, one record per line (other tools).

use std::borrow::Cow;
use std::io::Read;

use flate2::read::MultiGzDecoder;
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// The default cap on a file's decompressed size.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// Why a file could not be read. Its records are then not loaded at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("file is empty")]
    Empty,
    #[error("corrupt or truncated gzip stream: {0}")]
    Gzip(#[source] std::io::Error),
    #[error("file is larger than the {limit}-byte limit once decompressed")]
    TooLarge { limit: u64 },
    #[error("file is {size} bytes, over the {limit}-byte limit")]
    FileTooLarge { size: u64, limit: u64 },
    #[error("invalid JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("JSON object without `Records`")]
    NoRecords,
    #[error("`Records` is not a list")]
    RecordsNotAList,
    #[error("JSON {0} is not a log file")]
    NotALogFile(&'static str),
}

/// A file's records as JSON text (borrowed from the decompressed bytes, not yet
/// parsed), and the NDJSON lines that could not be parsed.
#[derive(Debug, Default)]
pub struct Parsed<'a> {
    pub records: Vec<&'a RawValue>,
    /// `line N: reason`, for each NDJSON line that is not JSON.
    pub bad_lines: Vec<String>,
}

/// Decompresses when gzip (by its magic bytes, not its name), within `max_bytes`.
pub fn decompress(bytes: &[u8], max_bytes: u64) -> Result<Cow<'_, [u8]>, ReadError> {
    decompress_within(bytes, max_bytes, &mut |_| {})
}

/// Gzip members whose trailer states more than this are not decompressed in
/// one shot: the stated size is the attacker's to choose, and the one-shot
/// path allocates it before it can tell a lie. (CloudTrail's files are far
/// smaller.)
pub const ONE_SHOT_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// [`decompress`], calling `reserve(n)` before each output buffer of `n` bytes
/// is allocated (it replaces any earlier one), so the caller can wait for
/// memory. Nothing larger than `max_bytes` is ever allocated: a file too large
/// once decompressed — a decompression bomb — is found so by a pass that
/// decompresses into a small scratch buffer, costing time, not memory.
pub fn decompress_within<'a>(
    bytes: &'a [u8],
    max_bytes: u64,
    reserve: &mut dyn FnMut(u64),
) -> Result<Cow<'a, [u8]>, ReadError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        if bytes.len() as u64 > max_bytes {
            return Err(ReadError::TooLarge { limit: max_bytes });
        }
        return Ok(Cow::Borrowed(bytes));
    }
    if let Some(raw) = decompress_whole(bytes, max_bytes.min(ONE_SHOT_MAX_BYTES), reserve) {
        return Ok(Cow::Owned(raw));
    }
    // The stream decoder has the last word: first the size, into a scratch
    // buffer, then the bytes, into a buffer of exactly that size.
    let size = decompressed_size(bytes, max_bytes)?;
    reserve(size);
    let mut raw = Vec::with_capacity(usize::try_from(size).unwrap_or(usize::MAX));
    MultiGzDecoder::new(bytes)
        .take(size)
        .read_to_end(&mut raw)
        .map_err(ReadError::Gzip)?;
    Ok(Cow::Owned(raw))
}

/// The decompressed size of a gzip file, checked whole (every member's CRC and
/// length), without keeping its bytes; `TooLarge` as soon as it exceeds
/// `max_bytes`.
fn decompressed_size(bytes: &[u8], max_bytes: u64) -> Result<u64, ReadError> {
    let mut decoder = MultiGzDecoder::new(bytes);
    let mut scratch = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        match decoder.read(&mut scratch) {
            Ok(0) => return Ok(size),
            Ok(n) => size += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Gzip(e)),
        }
        if size > max_bytes {
            return Err(ReadError::TooLarge { limit: max_bytes });
        }
    }
}

/// The fast path of [`decompress`], for what CloudTrail writes — one gzip member
/// whose trailer states its size: libdeflate decompresses it whole, about twice
/// as fast as a stream. `None` sends every other file (several members, a wrong
/// or too large size, corrupt data) to the streaming decoder, which has the last
/// word. The output is accepted only if its length and CRC-32 are those of the
/// file's last trailer, so a file of several members is never cut short (except
/// members that repeat the first one byte for byte, whose events are the same).
/// The buffer is the stated size, at most `max_bytes`, reserved first.
fn decompress_whole(bytes: &[u8], max_bytes: u64, reserve: &mut dyn FnMut(u64)) -> Option<Vec<u8>> {
    let trailer = bytes.len().checked_sub(8).and_then(|at| bytes.get(at..))?;
    let crc = u32::from_le_bytes(trailer[..4].try_into().ok()?);
    let size = u32::from_le_bytes(trailer[4..].try_into().ok()?);
    if u64::from(size) > max_bytes {
        return None;
    }
    reserve(u64::from(size));
    let mut raw = vec![0u8; size as usize];
    let written = DECOMPRESSOR.with(|d| d.borrow_mut().gzip_decompress(bytes, &mut raw).ok())?;
    (written == raw.len() && libdeflater::crc32(&raw) == crc).then_some(raw)
}

thread_local! {
    static DECOMPRESSOR: std::cell::RefCell<libdeflater::Decompressor> =
        std::cell::RefCell::new(libdeflater::Decompressor::new());
}

/// Splits decompressed bytes into records, in any of the three shapes. Records
/// are validated as JSON but not parsed: most are dropped by the filter, which
/// reads only a few attributes of each.
pub fn parse(raw: &[u8]) -> Result<Parsed<'_>, ReadError> {
    let text = raw.strip_prefix(b"\xef\xbb\xbf").unwrap_or(raw);
    let Some(start) = text.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Err(ReadError::Empty);
    };
    let text = &text[start..];
    if let Some(parsed) = parse_ndjson(text) {
        return Ok(parsed);
    }
    let records = match text[0] {
        b'{' => {
            let object: LogObject<'_> = serde_json::from_slice(text).map_err(ReadError::Json)?;
            match object.records {
                Records::List(records) => records,
                Records::NotAList => return Err(ReadError::RecordsNotAList),
                Records::Absent if object.looks_like_a_record() => {
                    vec![serde_json::from_slice::<&RawValue>(text).map_err(ReadError::Json)?]
                }
                Records::Absent => return Err(ReadError::NoRecords),
            }
        }
        b'[' => serde_json::from_slice::<Vec<&RawValue>>(text).map_err(ReadError::Json)?,
        _ => {
            let value: Value = serde_json::from_slice(text).map_err(ReadError::Json)?;
            return Err(ReadError::NotALogFile(match value {
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "boolean",
                _ => "null",
            }));
        }
    };
    Ok(Parsed {
        records,
        bad_lines: Vec::new(),
    })
}

/// A JSON object read in one pass: its `Records`, and whether it is itself a
/// record (other members are skipped unparsed).
#[derive(Deserialize)]
struct LogObject<'a> {
    #[serde(rename = "Records", borrow, default)]
    records: Records<'a>,
    #[serde(rename = "eventID", default)]
    event_id: Option<IgnoredAny>,
    #[serde(rename = "eventVersion", default)]
    event_version: Option<IgnoredAny>,
    #[serde(rename = "eventTime", default)]
    event_time: Option<IgnoredAny>,
}

impl LogObject<'_> {
    fn looks_like_a_record(&self) -> bool {
        self.event_id.is_some() || self.event_version.is_some() || self.event_time.is_some()
    }
}

/// `Records`: a list of records kept as borrowed JSON text, anything else, or
/// no such member.
#[derive(Default)]
enum Records<'a> {
    List(Vec<&'a RawValue>),
    NotAList,
    #[default]
    Absent,
}

impl<'de: 'a, 'a> Deserialize<'de> for Records<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RecordsVisitor(std::marker::PhantomData))
    }
}

struct RecordsVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for RecordsVisitor<'a> {
    type Value = Records<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(16));
        while let Some(record) = seq.next_element::<&'de RawValue>()? {
            records.push(record);
        }
        Ok(Records::List(records))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Records::NotAList)
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Records::NotAList)
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Records::NotAList)
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Records::NotAList)
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Records::NotAList)
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Records::NotAList)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Records::NotAList)
    }
}

/// NDJSON when the first line is a whole JSON object and more follows it.
/// Lines are checked one by one so a bad line costs only that record.
fn parse_ndjson(text: &[u8]) -> Option<Parsed<'_>> {
    let mut lines = text.split(|b| *b == b'\n');
    let first = lines.next()?;
    if text[first.len()..].iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let first: &RawValue = serde_json::from_slice(first).ok()?;
    if !first.get().starts_with('{') {
        return None;
    }
    let mut parsed = Parsed {
        records: vec![first],
        ..Default::default()
    };
    for (index, line) in lines.enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<&RawValue>(line) {
            Ok(record) => parsed.records.push(record),
            Err(e) => parsed
                .bad_lines
                .push(format!("line {}: invalid JSON: {e}", index + 2)),
        }
    }
    Some(parsed)
}

/// Decompresses and splits, for callers that want both steps at once; the count
/// of records, or why the file cannot be read.
pub fn count_records(bytes: &[u8], max_bytes: u64) -> Result<usize, ReadError> {
    let raw = decompress(bytes, max_bytes)?;
    let parsed = parse(&raw)?;
    Ok(parsed.records.len() + parsed.bad_lines.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(data).expect("gzip in memory");
        encoder.finish().expect("gzip in memory")
    }

    const LOG: &[u8] = br#"{"Records": [{"eventID": "a"}, {"eventID": "b"}]}"#;

    #[test]
    fn reads_records_files_plain_and_gzipped() {
        assert_eq!(count_records(LOG, 1 << 20).ok(), Some(2));
        assert_eq!(count_records(&gzip(LOG), 1 << 20).ok(), Some(2));
    }

    #[test]
    fn reads_bare_lists_ndjson_and_single_records() {
        let list = br#"[{"eventID": "a"}, {"eventID": "b"}, {"eventID": "c"}]"#;
        assert_eq!(parse(list).map(|p| p.records.len()).ok(), Some(3));
        let ndjson =
            b"{\"eventID\": \"a\"}\n\n{\"eventID\": \"b\"}\nnot json\n{\"eventID\": \"c\"}\n";
        let parsed = parse(ndjson).expect("ndjson");
        assert_eq!(parsed.records.len(), 3);
        assert_eq!(parsed.bad_lines.len(), 1);
        assert!(
            parsed.bad_lines[0].starts_with("line 4:"),
            "{:?}",
            parsed.bad_lines
        );
        assert_eq!(
            parse(br#"{"eventID": "a", "eventVersion": "1.08"}"#)
                .map(|p| p.records.len())
                .ok(),
            Some(1)
        );
        let pretty = b"{\n  \"Records\": [\n    {\"eventID\": \"a\"}\n  ]\n}\n";
        assert_eq!(parse(pretty).map(|p| p.records.len()).ok(), Some(1));
    }

    #[test]
    fn bad_files_get_a_clear_reason() {
        let truncated = gzip(LOG);
        let truncated = &truncated[..truncated.len() / 2];
        let cases: [(&[u8], &str); 10] = [
            (b"", "file is empty"),
            (b"  \n", "file is empty"),
            (truncated, "corrupt or truncated gzip stream"),
            (b"{\"Records\": [", "invalid JSON"),
            (
                b"{\"digestStartTime\": \"x\"}",
                "JSON object without `Records`",
            ),
            (b"{\"Records\": 3}", "`Records` is not a list"),
            (b"{\"Records\": {\"a\": [1]}}", "`Records` is not a list"),
            (b"{\"Records\": null}", "`Records` is not a list"),
            (b"{\"Records\": [{\"a\": 1}] \"x\"}", "invalid JSON"),
            (b"\"text\"", "JSON string is not a log file"),
        ];
        for (bytes, reason) in cases {
            let error = count_records(bytes, 1 << 20);
            let message = error
                .as_ref()
                .map_err(ToString::to_string)
                .err()
                .unwrap_or_default();
            assert!(
                message.starts_with(reason),
                "{message:?} should start with {reason:?}"
            );
        }
        let mut not_gzip = vec![0x1f, 0x8b];
        not_gzip.extend_from_slice(b"garbage garbage");
        assert!(matches!(
            count_records(&not_gzip, 1 << 20),
            Err(ReadError::Gzip(_))
        ));
    }

    #[test]
    fn files_of_several_gzip_members_are_read_whole() {
        let a = br#"{"Records": [{"eventID": "a"}]}"#;
        let b = br#"{"Records": [{"eventID": "b"}, {"eventID": "c"}]}"#;
        let ndjson_a = b"{\"eventID\": \"a\"}\n";
        let ndjson_b = b"{\"eventID\": \"b\"}\n{\"eventID\": \"c\"}\n";
        let mut two = gzip(ndjson_a);
        two.extend(gzip(ndjson_b));
        assert_eq!(count_records(&two, 1 << 20).ok(), Some(3));
        let mut same = gzip(ndjson_b);
        same.extend(gzip(ndjson_b));
        // Members repeating the first byte for byte are read once (their
        // records are the same events; the trailer check cannot tell them apart).
        let raw = decompress(&same, 1 << 20).expect("decompress");
        assert_eq!(&raw[..], &ndjson_b[..]);
        for single in [&a[..], &b[..]] {
            let compressed = gzip(single);
            let raw = decompress(&compressed, 1 << 20).expect("decompress");
            assert_eq!(&raw[..], single);
        }
        // A trailer that lies about the size: the fast path declines it and the
        // stream decoder, which has the last word, rejects the file.
        let mut lying = gzip(b);
        let at = lying.len() - 4;
        lying[at..].copy_from_slice(&3u32.to_le_bytes());
        assert!(decompress_whole(&lying, 1 << 20, &mut |_| {}).is_none());
        assert!(matches!(
            decompress(&lying, 1 << 20),
            Err(ReadError::Gzip(_))
        ));
    }

    /// Issue 13, part 7: a bomb costs no memory past what its trailer states,
    /// and that only up to the one-shot limit; every buffer is reserved first.
    #[test]
    fn bombs_are_rejected_without_buffers_past_the_cap() {
        let cap = 1 << 20;
        let too_large = |r: &Result<Cow<'_, [u8]>, ReadError>| matches!(r, Err(ReadError::TooLarge { limit }) if *limit == cap);
        let bomb = gzip(&vec![0u8; 8 << 20]);
        let mut asked = Vec::new();
        let read = decompress_within(&bomb, cap, &mut |n| asked.push(n));
        assert!(too_large(&read), "{read:?}");
        assert!(
            asked.is_empty(),
            "found too large before any buffer: {asked:?}"
        );
        // A trailer stating a small size: the one-shot buffer is that size,
        // then the stream decoder counts, into a scratch buffer.
        let mut lying = bomb.clone();
        let at = lying.len() - 4;
        lying[at..].copy_from_slice(&1_000u32.to_le_bytes());
        asked.clear();
        let read = decompress_within(&lying, cap, &mut |n| asked.push(n));
        assert!(too_large(&read), "{read:?}");
        assert_eq!(asked, [1_000]);
        // Stating more than the one-shot limit (within the cap): no one-shot
        // buffer at all.
        lying[at..].copy_from_slice(&(ONE_SHOT_MAX_BYTES as u32 + 1).to_le_bytes());
        asked.clear();
        let read = decompress_within(&lying, 128 << 20, &mut |n| asked.push(n));
        assert!(
            matches!(read, Err(ReadError::Gzip(_))),
            "trailer checked: {read:?}"
        );
        assert!(asked.is_empty(), "{asked:?}");
    }

    #[test]
    fn streamed_files_get_a_buffer_of_exactly_their_size() {
        let a = vec![b'a'; 300_000];
        let b = vec![b'b'; 1_000];
        let mut two = gzip(&a);
        two.extend(gzip(&b));
        let mut asked = Vec::new();
        let raw = decompress_within(&two, 1 << 20, &mut |n| asked.push(n)).expect("two members");
        let whole = [a.as_slice(), b.as_slice()].concat();
        assert_eq!(&raw[..], &whole[..]);
        // The one-shot attempt at the last member's stated size, then the
        // counted size.
        assert_eq!(asked, [1_000, whole.len() as u64]);
        let Cow::Owned(raw) = raw else {
            panic!("decompressed bytes are owned");
        };
        assert_eq!(raw.capacity(), raw.len(), "the buffer never grew");
    }

    #[test]
    fn decompression_is_capped() {
        let bomb = gzip(&vec![b' '; 4 << 20]);
        assert!(bomb.len() < 64 << 10);
        assert!(
            matches!(count_records(&bomb, 1 << 20), Err(ReadError::TooLarge { limit }) if limit == 1 << 20)
        );
        assert!(matches!(
            count_records(LOG, 10),
            Err(ReadError::TooLarge { .. })
        ));
    }
}
