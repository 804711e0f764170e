//! Projects, their tasks and their attachments: the representations the API shows and
//! replicates, and the bodies that create or change them, read with DRF's field rules and
//! messages.

mod attachment;
mod project;
mod task;

pub use attachment::{
    Attachment, BAD_CHECKSUM, BAD_CONTENT_TYPE, BAD_FILENAME, BAD_STORAGE_KEY, CONTENT_TYPE_MAX,
    FILENAME_MAX, NewAttachment,
};
pub use project::{PROJECT_ORDERING, PROJECT_SEARCH, Project, ProjectChanges, ProjectView};
pub use task::{TASK_ORDERING, TASK_SEARCH, Task, TaskChanges};

/// Longest `name` of a project.
pub const NAME_MAX: usize = 120;
/// Longest `title` of a task.
pub const TITLE_MAX: usize = 180;
/// Longest free text (`description`, `detail`). DRF's `TextField` has none; every input here
/// has one.
pub const TEXT_MAX: usize = 10_000;
