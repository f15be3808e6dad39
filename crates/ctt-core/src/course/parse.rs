//! Reading a course file: TOML into a checked [`Course`], every mistake named
//! with its line.

use serde::Deserialize;
use toml::Spanned;

use super::{Course, Hundredths, Lab, Requirement, Students, Window};
use crate::time::{Bound, parse_bound};

/// Limits that keep a course (and its scoring) a reasonable size.
const MAX_LABS: usize = 200;
const MAX_REQUIREMENTS: usize = 200;
const MAX_COUNT: i64 = 10_000;
const MAX_ID_BYTES: usize = 64;
const MAX_STUDENTS: usize = 100_000;

/// What is wrong with a course file, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct CourseError {
    /// 1-based line of the offending value, when known.
    pub line: Option<usize>,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCourse {
    id: Spanned<String>,
    name: Spanned<String>,
    from: Spanned<toml::Value>,
    to: Spanned<toml::Value>,
    students: Spanned<toml::Value>,
    pass: Option<Spanned<toml::Value>>,
    #[serde(default)]
    count_failed: bool,
    #[serde(default, rename = "lab")]
    labs: Vec<Spanned<RawLab>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLab {
    id: Spanned<String>,
    name: Option<Spanned<String>>,
    from: Option<Spanned<toml::Value>>,
    to: Option<Spanned<toml::Value>>,
    requires: Spanned<Vec<Spanned<RawRequirement>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequirement {
    event: Spanned<String>,
    count: Option<Spanned<i64>>,
}

/// Turns byte offsets into 1-based line numbers of one source.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn of(&self, offset: usize) -> usize {
        let end = offset.min(self.0.len());
        self.0.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn error<T>(&self, spanned: &Spanned<T>, message: impl Into<String>) -> CourseError {
        CourseError {
            line: Some(self.of(spanned.span().start)),
            message: message.into(),
        }
    }
}

impl Course {
    /// Reads and checks a course file (SPEC §10).
    pub fn parse(source: &str) -> Result<Course, CourseError> {
        let lines = Lines(source);
        let raw: RawCourse = toml::from_str(source).map_err(|e| CourseError {
            line: e.span().map(|span| lines.of(span.start)),
            message: e.message().trim().to_owned(),
        })?;

        let id = checked_id(&lines, &raw.id, "course")?;
        let name = raw.name.get_ref().trim().to_owned();
        if name.is_empty() {
            return Err(lines.error(&raw.name, "`name` is empty"));
        }
        let window = Window {
            from: instant(&lines, &raw.from, "from", Bound::From)?,
            to: instant(&lines, &raw.to, "to", Bound::To)?,
        };
        if window.from > window.to {
            return Err(lines.error(&raw.to, "`to` is before `from`"));
        }
        let students = students(&lines, &raw.students)?;
        let pass = match &raw.pass {
            None => Hundredths(8_000),
            Some(value) => pass(&lines, value)?,
        };
        if raw.labs.is_empty() {
            return Err(CourseError {
                line: None,
                message: "a course needs at least one `[[lab]]`".into(),
            });
        }
        if raw.labs.len() > MAX_LABS {
            return Err(lines.error(&raw.labs[MAX_LABS], format!("more than {MAX_LABS} labs")));
        }
        let mut labs: Vec<Lab> = Vec::with_capacity(raw.labs.len());
        for raw_lab in &raw.labs {
            let lab = lab(&lines, raw_lab.get_ref(), &window)?;
            if labs.iter().any(|l| l.id == lab.id) {
                return Err(lines.error(
                    &raw_lab.get_ref().id,
                    format!("duplicate lab id `{}`", lab.id),
                ));
            }
            labs.push(lab);
        }
        Ok(Course {
            id,
            name,
            window,
            students,
            pass,
            count_failed: raw.count_failed,
            labs,
        })
    }
}

fn checked_id(lines: &Lines, id: &Spanned<String>, what: &str) -> Result<String, CourseError> {
    let text = id.get_ref();
    let valid = !text.is_empty()
        && text.len() <= MAX_ID_BYTES
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(text.clone())
    } else {
        Err(lines.error(
            id,
            format!(
                "{what} id `{}` must be 1 to {MAX_ID_BYTES} characters of a-z, 0-9 and -",
                crate::printable(text)
            ),
        ))
    }
}

fn instant(
    lines: &Lines,
    value: &Spanned<toml::Value>,
    key: &str,
    bound: Bound,
) -> Result<chrono::DateTime<chrono::Utc>, CourseError> {
    let text = match value.get_ref() {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        _ => {
            return Err(lines.error(
                value,
                format!("`{key}` must be a date or time, like \"2025-09-01\""),
            ));
        }
    };
    parse_bound(&text, bound).map_err(|e| lines.error(value, format!("`{key}`: {e}")))
}

fn students(lines: &Lines, value: &Spanned<toml::Value>) -> Result<Students, CourseError> {
    match value.get_ref() {
        toml::Value::String(pattern) => regex::Regex::new(pattern)
            .map(Students::Pattern)
            .map_err(|e| lines.error(value, format!("`students` is not a valid regex: {e}"))),
        toml::Value::Array(items) => {
            if items.is_empty() {
                return Err(lines.error(value, "`students` lists nobody"));
            }
            if items.len() > MAX_STUDENTS {
                return Err(lines.error(value, format!("more than {MAX_STUDENTS} students")));
            }
            items
                .iter()
                .map(|item| match item {
                    toml::Value::String(user) if !user.trim().is_empty() => {
                        Ok(user.trim().to_owned())
                    }
                    _ => Err(lines.error(value, "`students` must list user names (strings)")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Students::List)
        }
        _ => Err(lines.error(
            value,
            "`students` must be a regex (a string) or a list of users",
        )),
    }
}

fn pass(lines: &Lines, value: &Spanned<toml::Value>) -> Result<Hundredths, CourseError> {
    let percent = match value.get_ref() {
        toml::Value::Integer(i) => *i as f64,
        toml::Value::Float(f) => *f,
        _ => return Err(lines.error(value, "`pass` must be a number (a percentage)")),
    };
    if !(percent > 0.0 && percent <= 100.0) {
        return Err(lines.error(value, "`pass` must be above 0 and at most 100"));
    }
    Ok(Hundredths((percent * 100.0).round() as u32))
}

fn lab(lines: &Lines, raw: &RawLab, course: &Window) -> Result<Lab, CourseError> {
    let id = checked_id(lines, &raw.id, "lab")?;
    let name = match &raw.name {
        Some(name) if name.get_ref().trim().is_empty() => {
            return Err(lines.error(name, "`name` is empty"));
        }
        Some(name) => name.get_ref().trim().to_owned(),
        None => id.clone(),
    };
    let window = match (&raw.from, &raw.to) {
        (None, None) => None,
        (from, to) => {
            let from = match from {
                Some(v) => instant(lines, v, "from", Bound::From)?,
                None => course.from,
            };
            let to = match to {
                Some(v) => instant(lines, v, "to", Bound::To)?,
                None => course.to,
            };
            let at = raw.to.as_ref().or(raw.from.as_ref());
            let error = |message: &str| match at {
                Some(v) => lines.error(v, format!("lab `{id}`: {message}")),
                None => lines.error(&raw.id, message),
            };
            if from > to {
                return Err(error("`to` is before `from`"));
            }
            if from < course.from || to > course.to {
                return Err(error("the lab's window must lie inside the course's"));
            }
            Some(Window { from, to })
        }
    };
    let requires = raw.requires.get_ref();
    if requires.is_empty() {
        return Err(lines.error(&raw.requires, format!("lab `{id}` requires nothing")));
    }
    if requires.len() > MAX_REQUIREMENTS {
        return Err(lines.error(
            &raw.requires,
            format!("lab `{id}` has more than {MAX_REQUIREMENTS} requirements"),
        ));
    }
    let requires = requires
        .iter()
        .map(|r| requirement(lines, r.get_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Lab {
        id,
        name,
        window,
        requires,
    })
}

fn requirement(lines: &Lines, raw: &RawRequirement) -> Result<Requirement, CourseError> {
    let text = raw.event.get_ref().trim();
    let (service, name) = match text.split_once(':') {
        Some((service, name)) => {
            let service = service.strip_suffix(".amazonaws.com").unwrap_or(service);
            (Some(service), name)
        }
        None => (None, text),
    };
    let service_ok = service.is_none_or(|s| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b))
    });
    let name_ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !service_ok || !name_ok {
        return Err(lines.error(
            &raw.event,
            format!(
                "`event = \"{}\"`: expected SERVICE:EventName (like ec2:RunInstances) or EventName",
                crate::printable(text)
            ),
        ));
    }
    let count = match &raw.count {
        None => 1,
        Some(count) => {
            let value = *count.get_ref();
            if !(1..=MAX_COUNT).contains(&value) {
                return Err(lines.error(
                    count,
                    format!("`count` must be between 1 and {MAX_COUNT}, not {value}"),
                ));
            }
            value as u32
        }
    };
    Ok(Requirement {
        service: service.map(str::to_owned),
        name: name.to_owned(),
        count,
    })
}
