//! A course's answers from any store (SPEC §10): the stored course read back,
//! its class found among the users seen, its candidate events fetched, and
//! `ctt_core::course` scoring them. The CLI, the API and the portal all answer
//! through these functions; the server's access layer narrows `only` to the
//! caller for role `self`.

use ctt_core::course::{
    ClassProgress, Course, CourseError, StudentScore, TimelineDay, Window, class_progress, score,
    timeline,
};

use crate::{EventStore, StoreError, StoreResult};

/// A stored course that no longer reads (written by another version of ctt).
#[derive(Debug, thiserror::Error)]
#[error("stored course `{id}` cannot be read: {source}")]
pub struct StoredCourseError {
    pub id: String,
    #[source]
    pub source: CourseError,
}

/// The course `id`, read back; `None` when there is none.
pub async fn find(store: &dyn EventStore, id: &str) -> StoreResult<Option<Course>> {
    let Some(stored) = store.course(id).await? else {
        return Ok(None);
    };
    Course::parse(&stored.source).map(Some).map_err(|source| {
        StoreError::backend(StoredCourseError {
            id: id.to_owned(),
            source,
        })
    })
}

/// The class of `course`: its students among the users seen (or just `only`,
/// when it is one of them).
pub async fn class(
    store: &dyn EventStore,
    course: &Course,
    only: Option<&str>,
) -> StoreResult<Vec<String>> {
    if let Some(user) = only {
        return Ok(if course.students.includes(user) {
            vec![user.to_owned()]
        } else {
            Vec::new()
        });
    }
    let seen = store.users().await?;
    Ok(course.students.class(seen.iter().map(|u| u.name.as_str())))
}

/// The class's progress over `window` (the course's, or one asked for).
pub async fn progress(
    store: &dyn EventStore,
    course: &Course,
    window: &Window,
    only: Option<&str>,
) -> StoreResult<ClassProgress> {
    let class = class(store, course, only).await?;
    let hits = store.course_hits(&course.candidates(*window, only)).await?;
    Ok(class_progress(course, window, &class, &hits))
}

/// One student's progress over `window`.
pub async fn student(
    store: &dyn EventStore,
    course: &Course,
    window: &Window,
    user: &str,
) -> StoreResult<StudentScore> {
    let hits = store
        .course_hits(&course.candidates(*window, Some(user)))
        .await?;
    Ok(score(course, window, user, &hits))
}

/// The class band for each day of `window`.
pub async fn band(
    store: &dyn EventStore,
    course: &Course,
    window: &Window,
    only: Option<&str>,
) -> StoreResult<Vec<TimelineDay>> {
    let class = class(store, course, only).await?;
    let hits = store.course_hits(&course.candidates(*window, only)).await?;
    Ok(timeline(course, window, &class, &hits))
}
