//! `POST /api/v1/attachments/`: a multipart upload (`project`, `file`) streamed into R2.
//!
//! The body is parsed as it arrives. The file's first bytes decide its kind (with its name and
//! declared type); then it goes to R2 in parts of [`PART_BYTES`], hashed (SHA-256) and counted
//! on the way, so the edge never holds more than a part, and the size limit stops the upload
//! the moment it is passed. A file smaller than a part is stored in one put. The key is the
//! edge's own (`attachments/YYYY/MM/<random>`), never the client's file name.
//!
//! Then the metadata goes to the origin like every other write. Whatever refuses the upload
//! after the bytes were stored (a field error, a project that is not the caller's, the origin)
//! removes them again; if that removal fails, the orphan sweep ([`super::sweep`]) finds them.

use domain::files::{key, kind, name};
use domain::input::messages;
use domain::multipart::{Event, MultipartLimits, MultipartStream};
use domain::{ApiError, FieldErrors, ProjectId, UserId};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::represent;
use crate::ctx::Ctx;
use crate::error::{Context as _, EdgeError, EdgeResult};
use crate::forward::forward;
use crate::http::{Request, Response};
use crate::platform::{Blobs as _, PART_BYTES, Platform, Replica as _};
use crate::projects::sql::{self, CountRow};

/// What a multipart body may add to its file: the parts' delimiters and headers, and the
/// `project` field. A `Content-Length` over the file limit plus this is refused unread.
pub const MULTIPART_SLACK: u64 = 64 * 1024;
/// How much of a chunk the parser is given at once.
const FEED_BYTES: usize = 64 * 1024;
/// The longest value kept for a field other than the file (`project` is a number).
const MAX_FIELD_BYTES: usize = 64;
/// A file held whole up to this grows its buffer as it comes; past it, the buffer is made
/// room for a part at once ([`PART_ROOM`]).
const SMALL_FILE_BYTES: usize = 1024 * 1024;
/// A part's buffer: the part, and a chunk's worth past it (what arrived beyond the part
/// starts the next one). Two of these (one being written, one filling) are what an upload
/// holds at most.
const PART_ROOM: usize = PART_BYTES + 1024 * 1024;

pub async fn upload<P: Platform>(
    ctx: &Ctx<'_, P>,
    request: &Request,
    owner: UserId,
) -> EdgeResult<Response> {
    let content_type = request.header("content-type").unwrap_or_default();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        return Err(ApiError::UnsupportedMediaType(content_type.to_owned()).into());
    }
    let limit = ctx.settings.media.max_upload_bytes;
    let too_large = || ApiError::PayloadTooLarge {
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
    };
    if request
        .header("content-length")
        .and_then(|length| length.parse::<u64>().ok())
        .is_some_and(|length| length > limit + MULTIPART_SLACK)
    {
        return Err(too_large().into());
    }
    let mut parser =
        MultipartStream::new(content_type, MultipartLimits::default()).map_err(ApiError::from)?;
    let mut form = Form::new(ctx, random_key(ctx.now)?, limit);
    let mut chunks = request
        .stream
        .as_ref()
        .and_then(crate::http::BodyStream::take)
        .ok_or_else(|| EdgeError::fault("reading an upload", "its body was already taken"))?;
    let most = limit.saturating_add(MULTIPART_SLACK);
    let mut read: u64 = 0;
    let parsed = async {
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.context("reading the upload")?;
            // The whole body, whatever the form around the file (a body sent without its
            // length is bounded too).
            read = read.saturating_add(chunk.len() as u64);
            if read > most {
                return Err(too_large().into());
            }
            // In slices, so that the parser's copies stay small whatever the runtime's chunks.
            for piece in chunk.chunks(FEED_BYTES) {
                for event in parser.feed(piece).map_err(ApiError::from)? {
                    form.take(event).await?;
                }
            }
        }
        for event in parser.finish().map_err(ApiError::from)? {
            form.take(event).await?;
        }
        EdgeResult::Ok(())
    }
    .await;
    if let Err(error) = parsed {
        form.abandon().await;
        return Err(error);
    }
    form.submit(request, owner).await
}

/// A key for a new blob: the month it was stored in, and 128 random bits. Without
/// randomness there is no upload: a key another isolate could also make would let one user's
/// file replace another's.
fn random_key(now: i64) -> EdgeResult<String> {
    let mut random = [0u8; 16];
    getrandom::getrandom(&mut random)
        .map_err(|e| EdgeError::fault("choosing an upload's key", e.to_string()))?;
    let (year, month) = year_month(now);
    Ok(key::storage_key(year, month, random))
}

/// The UTC year and month of a Unix time (the civil calendar from days, after Howard
/// Hinnant's `civil_from_days`).
fn year_month(unix_secs: i64) -> (i32, u32) {
    let days = unix_secs.div_euclid(86_400) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        i32::try_from(year).unwrap_or(i32::MAX),
        u32::try_from(month).unwrap_or(1),
    )
}

/// Where the file's bytes are going.
enum Sink {
    /// Not started: the file's first bytes, until there are enough to tell its kind.
    Sniffing(Vec<u8>),
    /// Its kind known: bytes held until they make a part (or the file ends).
    Holding {
        kind: &'static kind::FileKind,
        held: Vec<u8>,
    },
    /// In parts: the upload's id and the parts written so far.
    Parts {
        kind: &'static kind::FileKind,
        held: Vec<u8>,
        upload: String,
        parts: Vec<(u16, String)>,
    },
}

/// The file part as it streams.
struct File {
    name: String,
    declared: Option<String>,
    sink: Sink,
    size: u64,
    hash: Sha256,
}

/// What a stored file is, for the metadata.
struct Stored {
    filename: String,
    size: u64,
    content_type: &'static str,
    checksum: String,
}

/// The form as read so far.
struct Form<'c, 'a, P: Platform> {
    ctx: &'c Ctx<'a, P>,
    key: String,
    limit: u64,
    /// The part being read and what of it is kept: `project`'s text, the file, or nothing.
    current: Current,
    project: Option<Vec<u8>>,
    file: Option<Result<Stored, ApiError>>,
    /// Whether bytes may be in R2 under `key` (or an upload in parts under way).
    touched: bool,
    /// The upload in parts to abort if the form is abandoned.
    open_upload: Option<String>,
}

enum Current {
    Skipping,
    Project(Vec<u8>),
    File(Box<File>),
}

impl<'c, 'a, P: Platform> Form<'c, 'a, P> {
    fn new(ctx: &'c Ctx<'a, P>, key: String, limit: u64) -> Self {
        Self {
            ctx,
            key,
            limit,
            current: Current::Skipping,
            project: None,
            file: None,
            touched: false,
            open_upload: None,
        }
    }

    async fn take(&mut self, event: Event) -> EdgeResult<()> {
        match event {
            Event::Part(head) => {
                self.current = match (head.name.as_str(), head.filename) {
                    ("file", _) if self.file.is_some() => {
                        return Err(file_error("Only one file may be uploaded at a time.").into());
                    }
                    // A file input left empty: browsers send the part with no name and no bytes.
                    ("file", Some(client_name)) if client_name.is_empty() => Current::Skipping,
                    ("file", Some(client_name)) => {
                        let name = name::safe_name(&client_name)
                            .map_err(|problem| file_error(&problem.message()))?;
                        Current::File(Box::new(File {
                            name,
                            declared: head.content_type,
                            sink: Sink::Sniffing(Vec::new()),
                            size: 0,
                            hash: Sha256::new(),
                        }))
                    }
                    ("file", None) => {
                        self.file = Some(Err(file_error(
                            "The submitted data was not a file. Check the encoding type on the form.",
                        )));
                        Current::Skipping
                    }
                    ("project", _) => Current::Project(Vec::new()),
                    _ => Current::Skipping,
                };
            }
            Event::Data(bytes) => match &mut self.current {
                Current::Skipping => {}
                Current::Project(value) => {
                    if value.len() + bytes.len() > MAX_FIELD_BYTES {
                        return Err(ApiError::Validation(FieldErrors::single(
                            "project",
                            messages::incorrect_pk_type("str"),
                        ))
                        .into());
                    }
                    value.extend_from_slice(&bytes);
                }
                Current::File(_) => self.file_bytes(bytes).await?,
            },
            Event::PartEnd => match std::mem::replace(&mut self.current, Current::Skipping) {
                Current::Skipping => {}
                Current::Project(value) => self.project = Some(value),
                Current::File(file) => {
                    // A problem found only now (an empty file, a short file's kind) is a
                    // field error among the others, as DRF reports it.
                    self.file = Some(match self.store_rest(*file).await {
                        Ok(stored) => Ok(stored),
                        Err(EdgeError::Api(refused @ ApiError::Validation(_))) => Err(refused),
                        Err(other) => return Err(other),
                    });
                }
            },
        }
        Ok(())
    }

    /// The file's next bytes: counted, hashed, and passed on when a part is full.
    async fn file_bytes(&mut self, bytes: Vec<u8>) -> EdgeResult<()> {
        let Current::File(file) = &mut self.current else {
            return Ok(());
        };
        file.size += bytes.len() as u64;
        if file.size > self.limit {
            return Err(ApiError::PayloadTooLarge {
                limit: usize::try_from(self.limit).unwrap_or(usize::MAX),
            }
            .into());
        }
        file.hash.update(&bytes);
        match &mut file.sink {
            Sink::Sniffing(head) => {
                head.extend_from_slice(&bytes);
                if head.len() >= kind::SNIFF_BYTES {
                    let found = kind::classify(file.declared.as_deref(), &file.name, head)
                        .map_err(|problem| file_error(problem.message()))?;
                    file.sink = Sink::Holding {
                        kind: found,
                        held: std::mem::take(head),
                    };
                }
            }
            Sink::Holding { held, .. } | Sink::Parts { held, .. } => {
                // Past a small file, room for a whole part at once: grown by doubling, the
                // buffer would reach 8 MiB for a 5 MiB part.
                if held.len() + bytes.len() > SMALL_FILE_BYTES && held.capacity() < PART_ROOM {
                    held.reserve_exact(PART_ROOM - held.len());
                }
                held.extend_from_slice(&bytes);
            }
        }
        self.flush_parts().await
    }

    /// Writes every whole part held.
    async fn flush_parts(&mut self) -> EdgeResult<()> {
        let Current::File(file) = &mut self.current else {
            return Ok(());
        };
        let blobs = self.ctx.platform.blobs();
        loop {
            let held_len = match &file.sink {
                Sink::Holding { held, .. } | Sink::Parts { held, .. } => held.len(),
                Sink::Sniffing(_) => return Ok(()),
            };
            if held_len < PART_BYTES {
                return Ok(());
            }
            if let Sink::Holding { kind, held } = &mut file.sink {
                self.touched = true;
                let upload = blobs
                    .start_parts(&self.key, kind.content_type)
                    .await
                    .context("starting an upload to R2")?;
                self.open_upload = Some(upload.clone());
                file.sink = Sink::Parts {
                    kind,
                    held: std::mem::take(held),
                    upload,
                    parts: Vec::new(),
                };
            }
            if let Sink::Parts {
                held,
                upload,
                parts,
                ..
            } = &mut file.sink
            {
                // The next part's buffer is made whole-part sized from the start; the part
                // goes to R2 in the one it filled.
                let mut part = std::mem::replace(held, Vec::with_capacity(PART_ROOM));
                held.extend_from_slice(part.get(PART_BYTES..).unwrap_or_default());
                part.truncate(PART_BYTES);
                let number = next_part(parts)?;
                let tag = blobs
                    .put_part(&self.key, upload, number, part)
                    .await
                    .context("writing a part to R2")?;
                parts.push((number, tag));
            }
        }
    }

    /// The file part has ended: what is held goes to R2, as the last part or as the whole.
    async fn store_rest(&mut self, file: File) -> EdgeResult<Stored> {
        let blobs = self.ctx.platform.blobs();
        let content_type = match file.sink {
            Sink::Sniffing(head) => {
                let found = kind::classify(file.declared.as_deref(), &file.name, &head)
                    .map_err(|problem| file_error(problem.message()))?;
                self.touched = true;
                blobs
                    .put(&self.key, head, found.content_type)
                    .await
                    .context("storing a file in R2")?;
                found.content_type
            }
            Sink::Holding { kind, held } => {
                self.touched = true;
                blobs
                    .put(&self.key, held, kind.content_type)
                    .await
                    .context("storing a file in R2")?;
                kind.content_type
            }
            Sink::Parts {
                kind,
                held,
                upload,
                mut parts,
            } => {
                if !held.is_empty() {
                    let number = next_part(&parts)?;
                    let tag = blobs
                        .put_part(&self.key, &upload, number, held)
                        .await
                        .context("writing the last part to R2")?;
                    parts.push((number, tag));
                }
                blobs
                    .finish_parts(&self.key, &upload, parts)
                    .await
                    .context("finishing an upload to R2")?;
                self.open_upload = None;
                kind.content_type
            }
        };
        Ok(Stored {
            filename: file.name,
            size: file.size,
            content_type,
            checksum: hex::encode(file.hash.finalize()),
        })
    }

    /// Removes whatever reached R2; a removal that fails is left to the orphan sweep.
    async fn abandon(&mut self) {
        let blobs = self.ctx.platform.blobs();
        if let Some(upload) = self.open_upload.take()
            && let Err(e) = blobs.abort_parts(&self.key, &upload).await
        {
            self.ctx
                .warn("aborting an abandoned upload (R2 ends it after a week)", &e);
        }
        if self.touched {
            remove(self.ctx, &self.key).await;
        }
    }

    /// The form is complete: DRF's field errors, the project's owner, then the metadata write.
    async fn submit(mut self, request: &Request, owner: UserId) -> EdgeResult<Response> {
        match self.checked(owner).await {
            Ok((project, stored)) => match self.write(request, owner, project, &stored).await {
                Ok(response) if response.status == 201 => Ok(response),
                // The origin answered and refused: nothing refers to the bytes.
                Ok(refused) => {
                    self.abandon().await;
                    Ok(refused)
                }
                // No clear answer (a timeout, a reply cut short): the origin may have stored
                // the metadata, so the bytes stay; if it did not, the sweep removes them.
                Err(unclear) => {
                    self.ctx.warn(
                        "an upload's metadata write ended without a clear answer; its blob is \
                         kept for the orphan sweep to judge",
                        &unclear,
                    );
                    Err(unclear)
                }
            },
            Err(refused) => {
                self.abandon().await;
                Err(refused)
            }
        }
    }

    /// Every field's problem at once, as DRF reports them; then whether the project is the
    /// caller's (404, the same whether it is someone else's or does not exist).
    async fn checked(&mut self, owner: UserId) -> EdgeResult<(ProjectId, Stored)> {
        let mut errors = FieldErrors::default();
        let project = match self.project.as_deref() {
            None => {
                errors.add("project", messages::REQUIRED);
                None
            }
            // DRF's related fields read an empty string as null.
            Some([]) => {
                errors.add("project", messages::NULL);
                None
            }
            Some(raw) => match std::str::from_utf8(raw).map(project_id) {
                Ok(Named::Id(id)) => Some(id),
                // An integer no project can have (0, negative, past 2^63): like a missing one.
                Ok(Named::NoSuch) => Some(ProjectId::new(0)),
                Ok(Named::NotAnInteger) | Err(_) => {
                    errors.add("project", messages::incorrect_pk_type("str"));
                    None
                }
            },
        };
        let stored = match self.file.take() {
            None => {
                errors.add("file", "No file was submitted.");
                None
            }
            Some(Err(ApiError::Validation(file_errors))) => {
                errors.merge(file_errors);
                None
            }
            Some(Err(other)) => return Err(other.into()),
            Some(Ok(stored)) => Some(stored),
        };
        let (Some(project), Some(stored)) = (project, stored) else {
            return Err(ApiError::Validation(errors).into());
        };
        let rows: Vec<CountRow> = self
            .ctx
            .replica()
            .query(sql::project_owned(owner, project))
            .await
            .context("looking up the upload's project")?;
        if rows.first().is_none_or(|row| row.n == 0) {
            return Err(ApiError::NotFound(Some("Project")).into());
        }
        Ok((project, stored))
    }

    /// The metadata, written through the origin; its answer with `file` as a signed URL.
    async fn write(
        &self,
        request: &Request,
        owner: UserId,
        project: ProjectId,
        stored: &Stored,
    ) -> EdgeResult<Response> {
        let metadata = json!({
            "project": project,
            "storage_key": self.key,
            "filename": stored.filename,
            "size": stored.size,
            "content_type": stored.content_type,
            "checksum": stored.checksum,
        });
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        if let Some(key) = request.header(domain::signing::IDEMPOTENCY_HEADER) {
            headers.push((
                domain::signing::IDEMPOTENCY_HEADER.to_owned(),
                key.to_owned(),
            ));
        }
        let write = Request {
            base_url: request.base_url.clone(),
            method: "POST".to_owned(),
            path: request.path.clone(),
            query: None,
            headers,
            body: metadata.to_string().into_bytes(),
            stream: None,
        };
        let mut response = forward(self.ctx, &write, Some(owner)).await?;
        if response.status != 201 {
            return Ok(response);
        }
        let mut body: Value =
            serde_json::from_slice(&response.body).context("reading the origin's attachment")?;
        // A replayed request (the same Idempotency-Key) answers the first upload's attachment:
        // this upload's bytes are not needed.
        if body.get("storage_key").and_then(Value::as_str) != Some(self.key.as_str()) {
            remove(self.ctx, &self.key).await;
        }
        represent(self.ctx, &request.base_url, &mut body);
        response.body = body.to_string().into_bytes();
        Ok(response)
    }
}

/// What a form's `project` names.
enum Named {
    Id(ProjectId),
    /// An integer, but no project's id.
    NoSuch,
    NotAnInteger,
}

/// A project id as DRF's `PrimaryKeyRelatedField` reads it from a form: an integer (Python's
/// `int()`: surrounding spaces and a sign allowed).
fn project_id(raw: &str) -> Named {
    let raw = raw.trim();
    if let Some(id) = ProjectId::parse(raw) {
        return Named::Id(id);
    }
    let digits = raw.strip_prefix(['-', '+']).unwrap_or(raw);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        Named::NoSuch
    } else {
        Named::NotAnInteger
    }
}

/// The number of the part after `parts` (R2 numbers them from 1; 100 MiB makes 20).
fn next_part(parts: &[(u16, String)]) -> EdgeResult<u16> {
    u16::try_from(parts.len() + 1).map_err(|_| EdgeError::fault("uploading", "too many parts"))
}

fn file_error(message: &str) -> ApiError {
    ApiError::Validation(FieldErrors::single("file", message))
}

/// Removes a blob, leaving it to the orphan sweep if that fails.
async fn remove<P: Platform>(ctx: &Ctx<'_, P>, key: &str) {
    if let Err(e) = ctx.platform.blobs().delete(&[key.to_owned()]).await {
        ctx.warn("removing an upload's blob (the orphan sweep will)", &e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_fall_in_their_utc_month() {
        for (unix, expected) in [
            (0, (1970, 1)),
            (951_782_400, (2000, 2)),    // 2000-02-29
            (951_868_799, (2000, 2)),    // 2000-02-29 23:59:59
            (951_868_800, (2000, 3)),    // 2000-03-01
            (1_795_392_000, (2026, 11)), // 2026-11-22
            (1_798_761_599, (2026, 12)), // 2026-12-31 23:59:59
            (1_798_761_600, (2027, 1)),
        ] {
            assert_eq!(year_month(unix), expected, "{unix}");
        }
    }
}
