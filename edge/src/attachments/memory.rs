//! Blobs in memory behind the [`Blobs`] port: the native test platform's R2. It keeps what a
//! test wants to check (the largest piece ever handed to it at once, unfinished uploads) and
//! can be told to fail deletes, as a store out of reach would.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};

use crate::platform::{BlobBody, BlobPage, Blobs, PortError};

/// One stored blob.
#[derive(Debug, Clone)]
struct Stored {
    bytes: Vec<u8>,
    stored_at: i64,
}

/// An upload in parts not yet finished: its key and its parts by number.
#[derive(Debug, Default)]
struct Upload {
    key: String,
    parts: BTreeMap<u16, Vec<u8>>,
}

#[derive(Debug, Default)]
pub struct MemoryBlobs {
    blobs: RefCell<BTreeMap<String, Stored>>,
    uploads: RefCell<HashMap<String, Upload>>,
    next_upload: Cell<u64>,
    now: Cell<i64>,
    largest_piece: Cell<usize>,
    failing_deletes: Cell<bool>,
}

impl MemoryBlobs {
    /// Sets the clock blobs are stamped with (Unix seconds).
    pub fn set_now(&self, now: i64) {
        self.now.set(now);
    }

    /// Stores a blob directly, as an upload whose metadata never arrived leaves one.
    pub fn insert(&self, key: &str, bytes: Vec<u8>, stored_at: i64) {
        self.blobs
            .borrow_mut()
            .insert(key.to_owned(), Stored { bytes, stored_at });
    }

    /// The blob's bytes, if it exists.
    pub fn bytes(&self, key: &str) -> Option<Vec<u8>> {
        self.blobs.borrow().get(key).map(|blob| blob.bytes.clone())
    }

    /// Every key stored.
    pub fn keys(&self) -> Vec<String> {
        self.blobs.borrow().keys().cloned().collect()
    }

    /// Uploads in parts started and neither finished nor aborted.
    pub fn unfinished_uploads(&self) -> usize {
        self.uploads.borrow().len()
    }

    /// The most bytes ever handed over in one put or part: what the edge held at once.
    pub fn largest_piece(&self) -> usize {
        self.largest_piece.get()
    }

    /// Makes deletes fail (or work again).
    pub fn fail_deletes(&self, failing: bool) {
        self.failing_deletes.set(failing);
    }

    fn handed(&self, bytes: &[u8]) {
        self.largest_piece
            .set(self.largest_piece.get().max(bytes.len()));
    }
}

impl Blobs for MemoryBlobs {
    async fn put(&self, key: &str, bytes: Vec<u8>, _content_type: &str) -> Result<(), PortError> {
        self.handed(&bytes);
        self.insert(key, bytes, self.now.get());
        Ok(())
    }

    async fn start_parts(&self, key: &str, _content_type: &str) -> Result<String, PortError> {
        let id = self.next_upload.get() + 1;
        self.next_upload.set(id);
        let upload = format!("upload-{id}");
        self.uploads.borrow_mut().insert(
            upload.clone(),
            Upload {
                key: key.to_owned(),
                ..Upload::default()
            },
        );
        Ok(upload)
    }

    async fn put_part(
        &self,
        key: &str,
        upload: &str,
        number: u16,
        bytes: Vec<u8>,
    ) -> Result<String, PortError> {
        self.handed(&bytes);
        let mut uploads = self.uploads.borrow_mut();
        let upload = uploads
            .get_mut(upload)
            .filter(|upload| upload.key == key)
            .ok_or_else(|| PortError::new("no such upload"))?;
        upload.parts.insert(number, bytes);
        Ok(format!("part-{number}"))
    }

    async fn finish_parts(
        &self,
        key: &str,
        upload: &str,
        parts: Vec<(u16, String)>,
    ) -> Result<(), PortError> {
        let mut uploads = self.uploads.borrow_mut();
        let Some(found) = uploads.remove(upload).filter(|found| found.key == key) else {
            return Err(PortError::new("no such upload"));
        };
        let mut bytes = Vec::new();
        for (number, tag) in parts {
            let part = found
                .parts
                .get(&number)
                .filter(|_| tag == format!("part-{number}"))
                .ok_or_else(|| PortError::new(format!("no part {number}")))?;
            bytes.extend_from_slice(part);
        }
        drop(uploads);
        self.insert(key, bytes, self.now.get());
        Ok(())
    }

    async fn abort_parts(&self, _key: &str, upload: &str) -> Result<(), PortError> {
        self.uploads.borrow_mut().remove(upload);
        Ok(())
    }

    async fn get(
        &self,
        key: &str,
        slice: Option<(u64, u64)>,
    ) -> Result<Option<BlobBody>, PortError> {
        let blobs = self.blobs.borrow();
        let Some(blob) = blobs.get(key) else {
            return Ok(None);
        };
        let bytes = match slice {
            None => blob.bytes.clone(),
            Some((start, len)) => {
                let start = usize::try_from(start).unwrap_or(usize::MAX);
                let end = start.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
                blob.bytes
                    .get(start..end.min(blob.bytes.len()))
                    .ok_or_else(|| PortError::new("the range is not satisfiable"))?
                    .to_vec()
            }
        };
        Ok(Some(BlobBody::Bytes(bytes)))
    }

    async fn delete(&self, keys: &[String]) -> Result<(), PortError> {
        if self.failing_deletes.get() {
            return Err(PortError::new("the blob store is out of reach"));
        }
        let mut blobs = self.blobs.borrow_mut();
        for key in keys {
            blobs.remove(key);
        }
        Ok(())
    }

    async fn list(&self, prefix: &str, cursor: Option<&str>) -> Result<BlobPage, PortError> {
        const PAGE: usize = 1000;
        let blobs = self.blobs.borrow();
        let mut page: Vec<(String, i64)> = blobs
            .iter()
            .filter(|(key, _)| key.starts_with(prefix))
            .filter(|(key, _)| cursor.is_none_or(|after| key.as_str() > after))
            .take(PAGE + 1)
            .map(|(key, blob)| (key.clone(), blob.stored_at))
            .collect();
        let more = page.len() > PAGE;
        page.truncate(PAGE);
        Ok(BlobPage {
            cursor: more
                .then(|| page.last().map(|(key, _)| key.clone()))
                .flatten(),
            blobs: page,
        })
    }
}
