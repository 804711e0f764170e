//! The attachments' bytes in R2 (binding `BLOBS`) behind the [`Blobs`] port. Reads hand the
//! object's stream to the response as it is, so a download's bytes never pass through the
//! wasm; writes take what the upload handler holds (a part at most).
//!
//! `Object::range()` is never called: in worker 0.8.7 it unwraps a cast that always fails
//! (R2 answers a plain object where it expects its `R2Range` class). The handler knows the
//! range it asked for.

use worker::{Bucket, Env, HttpMetadata, Range, ResponseBody, UploadedPart};

use crate::platform::{BlobBody, BlobPage, Blobs, PlatformBody, PortError};

/// The binding's name in `wrangler.toml`.
pub const BINDING: &str = "BLOBS";

/// The bucket, reached when first used (most requests never touch it).
pub struct R2<'a> {
    pub env: &'a Env,
}

fn failed(doing: &'static str) -> impl Fn(worker::Error) -> PortError {
    move |e| PortError::caused_by(doing, e)
}

impl R2<'_> {
    fn bucket(&self) -> Result<Bucket, PortError> {
        self.env
            .bucket(BINDING)
            .map_err(failed("reaching the R2 bucket"))
    }
}

fn typed(content_type: &str) -> HttpMetadata {
    HttpMetadata {
        content_type: Some(content_type.to_owned()),
        ..HttpMetadata::default()
    }
}

impl Blobs for R2<'_> {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), PortError> {
        self.bucket()?
            .put(key, bytes)
            .http_metadata(typed(content_type))
            .execute()
            .await
            .map_err(failed("storing a blob"))?;
        Ok(())
    }

    async fn start_parts(&self, key: &str, content_type: &str) -> Result<String, PortError> {
        let upload = self
            .bucket()?
            .create_multipart_upload(key)
            .http_metadata(typed(content_type))
            .execute()
            .await
            .map_err(failed("starting an upload in parts"))?;
        Ok(upload.upload_id().await)
    }

    async fn put_part(
        &self,
        key: &str,
        upload: &str,
        number: u16,
        bytes: Vec<u8>,
    ) -> Result<String, PortError> {
        let part = self
            .bucket()?
            .resume_multipart_upload(key, upload)
            .map_err(failed("resuming an upload"))?
            .upload_part(number, bytes)
            .await
            .map_err(failed("storing a part"))?;
        Ok(part.etag())
    }

    async fn finish_parts(
        &self,
        key: &str,
        upload: &str,
        parts: Vec<(u16, String)>,
    ) -> Result<(), PortError> {
        self.bucket()?
            .resume_multipart_upload(key, upload)
            .map_err(failed("resuming an upload"))?
            .complete(
                parts
                    .into_iter()
                    .map(|(number, tag)| UploadedPart::new(number, tag)),
            )
            .await
            .map_err(failed("finishing an upload in parts"))?;
        Ok(())
    }

    async fn abort_parts(&self, key: &str, upload: &str) -> Result<(), PortError> {
        self.bucket()?
            .resume_multipart_upload(key, upload)
            .map_err(failed("resuming an upload"))?
            .abort()
            .await
            .map_err(failed("aborting an upload in parts"))
    }

    async fn get(
        &self,
        key: &str,
        slice: Option<(u64, u64)>,
    ) -> Result<Option<BlobBody>, PortError> {
        let bucket = self.bucket()?;
        let mut get = bucket.get(key);
        if let Some((offset, length)) = slice {
            get = get.range(Range::OffsetWithLength { offset, length });
        }
        let Some(object) = get.execute().await.map_err(failed("reading a blob"))? else {
            return Ok(None);
        };
        let Some(body) = object.body() else {
            return Err(PortError::new("R2 answered an object without its body"));
        };
        let body: ResponseBody = body.response_body().map_err(failed("streaming a blob"))?;
        Ok(Some(BlobBody::Platform(PlatformBody(std::rc::Rc::new(
            body,
        )))))
    }

    async fn delete(&self, keys: &[String]) -> Result<(), PortError> {
        let bucket = self.bucket()?;
        for batch in keys.chunks(1000) {
            bucket
                .delete_multiple(batch.to_vec())
                .await
                .map_err(failed("removing blobs"))?;
        }
        Ok(())
    }

    async fn list(&self, prefix: &str, cursor: Option<&str>) -> Result<BlobPage, PortError> {
        let bucket = self.bucket()?;
        let mut list = bucket.list().prefix(prefix).limit(1000);
        if let Some(cursor) = cursor {
            list = list.cursor(cursor);
        }
        let page = list.execute().await.map_err(failed("listing blobs"))?;
        Ok(BlobPage {
            blobs: page
                .objects()
                .into_iter()
                .map(|object| {
                    let millis = object.uploaded().as_millis();
                    (
                        object.key(),
                        i64::try_from(millis / 1000).unwrap_or(i64::MAX),
                    )
                })
                .collect(),
            cursor: page.truncated().then(|| page.cursor()).flatten(),
        })
    }
}
