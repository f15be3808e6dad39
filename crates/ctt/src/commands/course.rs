//! `ctt course add | list | rm | show | student`: courses and labs (SPEC §10).
//!
//! A course file is checked when it is added (errors name the file and line)
//! and stored in the store, so `ctt serve`, the Lambda API and this CLI all
//! see it; re-adding an id replaces it. `show` scores the class, `student` one
//! student, both with the same code as the API (`ctt_store::course`); `show
//! --format csv` writes the class export of SPEC §10, byte for byte the API's.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::Utc;
use ctt_core::course::{ClassProgress, Course, StudentScore, progress_csv};
use ctt_core::printable;
use ctt_core::time::format_event_time;
use ctt_server::api::courses::{CourseRequest, CourseView, course_request};
use ctt_store::{EventStore, StoredCourse};

use crate::cli::{CourseArgs, CourseCommand, OutputFormat};
use crate::output;
use crate::settings::Settings;

/// The largest course file accepted (a course of hundreds of labs is ~100 KiB).
const MAX_COURSE_FILE_BYTES: u64 = 256 * 1024;

pub async fn run(settings: &Settings, args: CourseArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_event_store(settings).await?;
    let store = store.as_ref();
    match args.command {
        CourseCommand::Add { file } => add(store, &file).await?,
        CourseCommand::List { format } => list(store, format).await?,
        CourseCommand::Rm { id } => {
            if !store.remove_course(&id).await? {
                bail!("no course `{}` (see `ctt course list`)", printable(&id));
            }
            println!("removed course `{id}`");
        }
        CourseCommand::Show {
            id,
            from,
            to,
            format,
        } => {
            let (course, request) = course_and_window(store, &id, from, to).await?;
            let progress = ctt_store::course::progress(store, &course, &request.window, None)
                .await?
                .summary();
            show(&course, &progress, output::resolve(format))?;
        }
        CourseCommand::Student {
            id,
            user,
            from,
            to,
            format,
        } => {
            let (course, request) = course_and_window(store, &id, from, to).await?;
            if !course.students.includes(&user) {
                bail!(
                    "`{}` is not a student of course `{id}` (see `ctt course show {id}`)",
                    printable(&user)
                );
            }
            let score = ctt_store::course::student(store, &course, &request.window, &user).await?;
            student(&score, output::resolve(format))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn add(store: &dyn EventStore, file: &Path) -> anyhow::Result<()> {
    let (course, replaced) = add_file_replacing(store, file).await?;
    let requirements: usize = course.labs.iter().map(|l| l.requires.len()).sum();
    println!(
        "{} course `{}` ({}): {} labs, {requirements} requirements",
        if replaced { "replaced" } else { "added" },
        course.id,
        course.name,
        course.labs.len(),
    );
    Ok(())
}

/// Reads, checks and stores the course file `file` (`ctt serve --demo` adds
/// the generated class's course this way).
pub async fn add_file(store: &dyn EventStore, file: &Path) -> anyhow::Result<Course> {
    Ok(add_file_replacing(store, file).await?.0)
}

/// [`add_file`], and whether a course with its id was replaced.
async fn add_file_replacing(store: &dyn EventStore, file: &Path) -> anyhow::Result<(Course, bool)> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    if size > MAX_COURSE_FILE_BYTES {
        bail!(
            "{}: {size} bytes, more than a course file may hold ({MAX_COURSE_FILE_BYTES})",
            file.display()
        );
    }
    let source =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let course = Course::parse(&source).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let replaced = store.course(&course.id).await?.is_some();
    store
        .put_course(StoredCourse {
            id: course.id.clone(),
            source,
            added_at: Utc::now(),
        })
        .await?;
    Ok((course, replaced))
}

async fn list(store: &dyn EventStore, format: Option<OutputFormat>) -> anyhow::Result<()> {
    let mut courses = Vec::new();
    for stored in store.courses().await? {
        match ctt_store::course::find(store, &stored.id).await? {
            Some(course) => courses.push(course),
            None => continue,
        }
    }
    let rows = courses
        .iter()
        .map(|c| {
            vec![
                c.id.clone(),
                c.name.clone(),
                format_event_time(c.window.from),
                format_event_time(c.window.to),
                c.labs.len().to_string(),
            ]
        })
        .collect();
    let views: Vec<CourseView> = courses.iter().map(|c| CourseView::new(c, true)).collect();
    output::records(
        output::resolve(format),
        &["id", "name", "from", "to", "labs"],
        rows,
        &views,
    )?;
    Ok(())
}

async fn course_and_window(
    store: &dyn EventStore,
    id: &str,
    from: Option<String>,
    to: Option<String>,
) -> anyhow::Result<(Course, CourseRequest)> {
    let Some(course) = ctt_store::course::find(store, id).await? else {
        bail!("no course `{}` (see `ctt course list`)", printable(id));
    };
    let mut pairs = Vec::new();
    pairs.extend(from.map(|v| ("from".to_owned(), v)));
    pairs.extend(to.map(|v| ("to".to_owned(), v)));
    let request = course_request(&course, &pairs, false)
        .map_err(|e| anyhow::anyhow!("--{}: {}", e.parameter, e.detail))?;
    Ok((course, request))
}

fn show(course: &Course, progress: &ClassProgress, format: OutputFormat) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        OutputFormat::Csv => out.write_all(progress_csv(progress).as_bytes())?,
        OutputFormat::Json => {
            serde_json::to_writer(&mut out, progress)?;
            writeln!(out)?;
        }
        OutputFormat::Ndjson => {
            for student in &progress.students {
                serde_json::to_writer(&mut out, student)?;
                writeln!(out)?;
            }
        }
        OutputFormat::Table => {
            let mut header = vec!["student", "status", "grade", "completion"];
            header.extend(course.labs.iter().map(|l| l.id.as_str()));
            let rows: Vec<Vec<String>> = progress
                .students
                .iter()
                .map(|s| {
                    let mut row = vec![
                        s.student.clone(),
                        s.status.as_str().to_owned(),
                        s.grade.to_string(),
                        s.completion.to_string(),
                    ];
                    row.extend(s.labs.iter().map(|l| l.progress.to_string()));
                    row
                })
                .collect();
            drop(out);
            output::records(OutputFormat::Table, &header, rows, &progress.students)?;
            let counts = progress.counts;
            println!(
                "{} ({} to {}): {} completed, {} in progress, {} not started; stuck lab: {}",
                course.name,
                progress.from,
                progress.to,
                counts.completed,
                counts.in_progress,
                counts.not_started,
                progress.stuck.as_deref().unwrap_or("none"),
            );
            for lab in &progress.labs {
                println!(
                    "  {:<16} average {:>6}%  completed {:>4}  in progress {:>4}  not started {:>4}",
                    lab.id, lab.average, lab.completed, lab.in_progress, lab.not_started
                );
            }
        }
    }
    Ok(())
}

fn student(score: &StudentScore, format: OutputFormat) -> anyhow::Result<()> {
    if format != OutputFormat::Table {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, score)?;
        writeln!(out)?;
        return Ok(());
    }
    println!(
        "{}: {}, grade {}, completion {}%",
        printable(&score.student),
        score.status.as_str(),
        score.grade,
        score.completion
    );
    let rows: Vec<Vec<String>> = score
        .labs
        .iter()
        .flat_map(|lab| {
            lab.requirements.iter().map(move |r| {
                vec![
                    lab.id.clone(),
                    format!("{}{}", lab.progress, if lab.completed { " ✓" } else { "" }),
                    r.event.clone(),
                    format!("{}/{}", r.credited, r.count),
                    r.missing.to_string(),
                    r.events
                        .iter()
                        .map(|e| e.event_id.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                ]
            })
        })
        .collect();
    output::records(
        OutputFormat::Table,
        &[
            "lab", "progress", "requires", "credited", "missing", "events",
        ],
        rows,
        &score.labs,
    )?;
    Ok(())
}
