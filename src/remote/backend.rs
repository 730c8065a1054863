//! Where a remote's bytes live: a directory (a shared drive) or an S3-compatible bucket.
//!
//! A backend offers the five operations the remote protocol needs, all on keys relative to
//! the remote's root (`objects/ab/cdef…`, `models/m/log/000000000001`):
//! - `get` (None when absent), `list` (every key under a prefix, with its size),
//! - `put`: write or overwrite; used only for content-addressed objects, where every
//!   writer writes the same bytes, so a retried or concurrent put is harmless;
//! - `create`: write only if the key does not exist (S3 `If-None-Match: *`; `link(2)` on
//!   a directory), answering `Created::Exists` otherwise. History lines rely on it;
//! - `delete`, used only to remove the probe object that checks `create` is honoured.
//!
//! The S3 backend is `object_store` driven by a small tokio runtime; each call blocks, and
//! callers get parallelism from several threads. Idempotent requests are retried with
//! backoff (a few attempts, bounded in time), then the error is classified into what a
//! user can act on: no such bucket, credentials refused, endpoint unreachable.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::{ObjectStore as _, ObjectStoreExt as _, PutMode, PutOptions, PutPayload};

use super::RemoteError;

/// The outcome of a create-only write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    New,
    Exists,
}

/// The storage operations a remote needs (see the module docs).
pub trait Backend: Send + Sync {
    /// For messages: `s3://bucket/prefix` or the directory.
    fn describe(&self) -> String;
    /// The object's bytes (None when absent). An object larger than `max` is refused
    /// before it is read: a remote is untrusted, and sizes bound allocations.
    fn get(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>, RemoteError>;
    /// Bytes `start..end` of an object (None when it does not exist).
    fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Option<Vec<u8>>, RemoteError>;
    fn put(&self, key: &str, data: &[u8]) -> Result<(), RemoteError>;
    fn create(&self, key: &str, data: &[u8]) -> Result<Created, RemoteError>;
    fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, RemoteError>;
    fn delete(&self, key: &str) -> Result<(), RemoteError>;
}

/// Refuse keys that could climb out of the remote's root. Keys are built by mreg from
/// validated names and hex ids; this is the last line of defence.
fn check_key(key: &str) -> Result<(), RemoteError> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..");
    if bad {
        return Err(RemoteError::Protocol(format!(
            "refusing remote key {key:?}"
        )));
    }
    Ok(())
}

/// A remote in a local or mounted directory.
pub struct DirBackend {
    root: PathBuf,
}

impl DirBackend {
    pub fn open(root: &Path) -> Result<DirBackend, RemoteError> {
        match fs::metadata(root) {
            Ok(m) if m.is_dir() => Ok(DirBackend {
                root: root.to_path_buf(),
            }),
            Ok(_) => Err(RemoteError::NoDirectory(format!(
                "{} is not a directory",
                root.display()
            ))),
            Err(e) => Err(RemoteError::NoDirectory(format!("{}: {e}", root.display()))),
        }
    }

    fn io(&self, what: &str, key: &str, e: std::io::Error) -> RemoteError {
        RemoteError::Io(format!("{what} {}: {e}", self.root.join(key).display()))
    }

    /// Write `data` to a temp file beside the target and fsync it.
    fn stage(
        &self,
        key: &str,
        data: &[u8],
    ) -> Result<(tempfile::NamedTempFile, PathBuf), RemoteError> {
        check_key(key)?;
        let path = self.root.join(key);
        let dir = path.parent().expect("keys have a parent");
        fs::create_dir_all(dir).map_err(|e| self.io("creating", key, e))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".mreg-tmp-")
            .tempfile_in(dir)
            .map_err(|e| self.io("creating temp file for", key, e))?;
        tmp.write_all(data)
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| self.io("writing", key, e))?;
        Ok((tmp, path))
    }

    fn sync_parent(&self, path: &Path) {
        if let Some(d) = path.parent() {
            if let Ok(f) = fs::File::open(d) {
                let _ = f.sync_all();
            }
        }
    }
}

impl Backend for DirBackend {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn get(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>, RemoteError> {
        use std::io::Read;
        check_key(key)?;
        let f = match fs::File::open(self.root.join(key)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io("reading", key, e)),
        };
        let len = f.metadata().map_err(|e| self.io("reading", key, e))?.len();
        too_large(key, len, max)?;
        let mut buf = Vec::with_capacity(len as usize);
        f.take(max + 1)
            .read_to_end(&mut buf)
            .map_err(|e| self.io("reading", key, e))?;
        too_large(key, buf.len() as u64, max)?;
        Ok(Some(buf))
    }

    fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Option<Vec<u8>>, RemoteError> {
        use std::io::{Read, Seek, SeekFrom};
        check_key(key)?;
        let mut f = match fs::File::open(self.root.join(key)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io("reading", key, e)),
        };
        let mut buf = vec![0u8; end.saturating_sub(start) as usize];
        f.seek(SeekFrom::Start(start))
            .and_then(|_| f.read_exact(&mut buf))
            .map_err(|e| self.io("reading", key, e))?;
        Ok(Some(buf))
    }

    fn put(&self, key: &str, data: &[u8]) -> Result<(), RemoteError> {
        let (tmp, path) = self.stage(key, data)?;
        tmp.persist(&path)
            .map_err(|e| self.io("renaming into", key, e.error))?;
        self.sync_parent(&path);
        Ok(())
    }

    fn create(&self, key: &str, data: &[u8]) -> Result<Created, RemoteError> {
        let (tmp, path) = self.stage(key, data)?;
        // `link` fails if the name exists: an atomic create-only on any POSIX filesystem.
        match fs::hard_link(tmp.path(), &path) {
            Ok(()) => {
                self.sync_parent(&path);
                Ok(Created::New)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Created::Exists),
            Err(e) => Err(self.io("creating", key, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, RemoteError> {
        let mut out = Vec::new();
        let start = self.root.join(prefix.trim_end_matches('/'));
        let mut stack = vec![start];
        while let Some(dir) = stack.pop() {
            let rd = match fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(RemoteError::Io(format!("listing {}: {e}", dir.display()))),
            };
            for ent in rd {
                let ent =
                    ent.map_err(|e| RemoteError::Io(format!("listing {}: {e}", dir.display())))?;
                let name = ent.file_name();
                let Some(name) = name.to_str() else { continue };
                if name.starts_with(".mreg-tmp-") {
                    continue;
                }
                let ft = ent
                    .file_type()
                    .map_err(|e| RemoteError::Io(format!("listing {}: {e}", dir.display())))?;
                let path = ent.path();
                if ft.is_dir() {
                    stack.push(path);
                } else if ft.is_file() {
                    let rel = path
                        .strip_prefix(&self.root)
                        .expect("listed under the root")
                        .to_string_lossy()
                        .into_owned();
                    let len = ent.metadata().map(|m| m.len()).unwrap_or(0);
                    out.push((rel, len));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<(), RemoteError> {
        check_key(key)?;
        match fs::remove_file(self.root.join(key)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io("deleting", key, e)),
        }
    }
}

/// Refuse an object larger than a reader expects.
fn too_large(key: &str, len: u64, max: u64) -> Result<(), RemoteError> {
    if len > max {
        return Err(RemoteError::Corrupt(format!(
            "{key} is {len} bytes, more than the {max} such an object can be"
        )));
    }
    Ok(())
}

/// Connection settings of an S3 remote (credentials are not here: see `config`).
#[derive(Clone, Debug, Default)]
pub struct S3Settings {
    pub bucket: String,
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub path_style: bool,
    pub credentials: Option<Credentials>,
    /// Attempts for an idempotent request before giving up.
    pub retries: usize,
    /// Without static credentials, the rest of the AWS credential chain: the environment's
    /// web identity (`AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`, `AWS_ENDPOINT_URL_STS`:
    /// EKS), container (`AWS_CONTAINER_CREDENTIALS_*`: ECS) and metadata settings.
    pub chain: std::collections::BTreeMap<String, String>,
}

/// The environment variables of the AWS credential chain that `S3Settings::chain` keeps.
pub const CHAIN_VARS: [&str; 10] = [
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_METADATA_ENDPOINT",
    "AWS_IMDSV1_FALLBACK",
    "AWS_EC2_METADATA_DISABLED",
];

/// The instance metadata service answers (we run on a cloud instance that may have a role):
/// a TCP connect with a short timeout, so a laptop does not wait on retries to nowhere.
fn metadata_service_answers(endpoint: Option<&String>) -> bool {
    let host = endpoint
        .map(|e| {
            e.trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string()
        })
        .unwrap_or_else(|| "169.254.169.254:80".into());
    let host = if host.contains(':') {
        host
    } else {
        format!("{host}:80")
    };
    std::net::ToSocketAddrs::to_socket_addrs(&host)
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| {
            std::net::TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok()
        })
}

/// Static credentials for S3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

/// A remote in an S3-compatible bucket.
pub struct S3Backend {
    store: Arc<object_store::aws::AmazonS3>,
    rt: tokio::runtime::Runtime,
    prefix: String,
    describe: String,
}

impl S3Backend {
    pub fn open(s: &S3Settings) -> Result<S3Backend, RemoteError> {
        let mut b = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&s.bucket)
            .with_region(s.region.clone().unwrap_or_else(|| "us-east-1".into()))
            .with_virtual_hosted_style_request(!s.path_style)
            .with_retry(object_store::RetryConfig {
                backoff: object_store::BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(2),
                    base: 2.0,
                },
                max_retries: s.retries,
                retry_timeout: Duration::from_secs(30),
            })
            .with_client_options(
                object_store::ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(120)),
            );
        if let Some(ep) = &s.endpoint {
            b = b
                .with_endpoint(ep.trim_end_matches('/'))
                .with_allow_http(ep.starts_with("http://"));
        }
        match &s.credentials {
            Some(c) => {
                b = b
                    .with_access_key_id(&c.access_key_id)
                    .with_secret_access_key(&c.secret_access_key);
                if let Some(t) = &c.session_token {
                    b = b.with_token(t);
                }
            }
            None => {
                // The rest of the AWS chain, resolved by object_store: web identity (EKS),
                // container credentials (ECS), else the instance's role (EC2) — tried only
                // where a metadata service answers.
                let has = |k: &str| s.chain.contains_key(k);
                for (k, v) in &s.chain {
                    if let Ok(key) = k
                        .to_ascii_lowercase()
                        .parse::<object_store::aws::AmazonS3ConfigKey>()
                    {
                        b = b.with_config(key, v);
                    }
                }
                // object_store sends this file's content as a header and panics on a byte a
                // header cannot hold (a trailing newline): refuse it clearly instead.
                if let Some(f) = s.chain.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
                    let token = fs::read(f).map_err(|e| {
                        RemoteError::Credentials(format!(
                            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {f}: {e}"
                        ))
                    })?;
                    if token.is_empty() || token.iter().any(|&c| !(0x20..0x7f).contains(&c)) {
                        return Err(RemoteError::Credentials(format!(
                            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {f}: the token must be one line of printable ASCII with no line break (as the EKS Pod Identity agent writes it)"
                        )));
                    }
                }
                let web = has("AWS_WEB_IDENTITY_TOKEN_FILE") && has("AWS_ROLE_ARN");
                let container = has("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
                    || (has("AWS_CONTAINER_CREDENTIALS_FULL_URI")
                        && has("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"));
                let instance = s
                    .chain
                    .get("AWS_EC2_METADATA_DISABLED")
                    .is_none_or(|v| !v.eq_ignore_ascii_case("true"))
                    && metadata_service_answers(s.chain.get("AWS_METADATA_ENDPOINT"));
                if !(web || container || instance) {
                    return Err(RemoteError::Credentials(
                        "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
                         or AWS_PROFILE with ~/.aws/credentials, or a web identity \
                         (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, as on EKS), container \
                         credentials (ECS), or run on an instance with a role"
                            .into(),
                    ));
                }
            }
        }
        let store = b
            .build()
            .map_err(|e| RemoteError::Config(format!("S3 settings: {e}")))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| RemoteError::Io(format!("starting the I/O runtime: {e}")))?;
        let describe = match &s.endpoint {
            Some(ep) => format!("s3://{}/{} at {ep}", s.bucket, s.prefix),
            None => format!("s3://{}/{}", s.bucket, s.prefix),
        };
        Ok(S3Backend {
            store: Arc::new(store),
            rt,
            prefix: s.prefix.trim_matches('/').to_string(),
            describe,
        })
    }

    fn path(&self, key: &str) -> Result<object_store::path::Path, RemoteError> {
        check_key(key)?;
        let full = if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        };
        object_store::path::Path::parse(&full)
            .map_err(|e| RemoteError::Protocol(format!("bad remote key {full:?}: {e}")))
    }

    fn err(&self, what: &str, key: &str, e: object_store::Error) -> RemoteError {
        classify(&format!("{what} {key} on {}", self.describe), e)
    }
}

/// Turn an object_store error into one a user can act on.
fn classify(context: &str, e: object_store::Error) -> RemoteError {
    let mut text = e.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = src {
        text.push_str(": ");
        text.push_str(&s.to_string());
        src = s.source();
    }
    let has = |s: &str| text.contains(s);
    // The S3 error code (`<Code>NoSuchBucket</Code>`) says it best; else the first cause.
    let code = text
        .split("<Code>")
        .nth(1)
        .and_then(|r| r.split("</Code>").next())
        .map(str::to_string);
    let status = [
        "400", "401", "403", "404", "409", "412", "500", "502", "503", "504",
    ]
    .into_iter()
    .find(|c| text.contains(&format!("status code: {c}")));
    let short = match (&code, status) {
        (Some(c), Some(st)) => format!("HTTP {st} {c}"),
        (Some(c), None) => c.clone(),
        (None, Some(st)) => format!("HTTP {st}"),
        (None, None) => {
            // The innermost cause is the most specific ("Connection refused (os error 111)").
            let mut last = e.to_string();
            let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
            while let Some(s) = src {
                last = s.to_string();
                src = s.source();
            }
            last.chars().take(300).collect()
        }
    };
    if has("NoSuchBucket") || has("bucket does not exist") {
        RemoteError::NotFound(format!("{context}: the bucket does not exist ({short})"))
    } else if has("InvalidAccessKeyId")
        || has("SignatureDoesNotMatch")
        || has("AccessDenied")
        || has("403 Forbidden")
        || has("Forbidden")
    {
        RemoteError::Credentials(format!(
            "{context}: the server refused the credentials ({short})"
        ))
    } else if has("Connection refused")
        || has("error sending request")
        || has("tcp connect")
        || has("dns error")
        || has("connection closed")
        || has("timed out")
    {
        RemoteError::Unreachable(format!("{context}: {short}"))
    } else {
        RemoteError::Io(format!("{context}: {short}"))
    }
}

impl Backend for S3Backend {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn get(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>, RemoteError> {
        let path = self.path(key)?;
        let r = self.rt.block_on(async {
            match self.store.get(&path).await {
                Ok(r) => {
                    // The size is known before the body is read.
                    if let Err(e) = too_large(key, r.meta.size, max) {
                        return Ok(Err(e));
                    }
                    r.bytes().await.map(|b| Ok(Some(b)))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(Ok(None)),
                Err(e) => Err(e),
            }
        });
        let got = r.map_err(|e| self.err("reading", key, e))??;
        if let Some(b) = &got {
            too_large(key, b.len() as u64, max)?;
        }
        Ok(got.map(|b| b.to_vec()))
    }

    fn get_range(&self, key: &str, start: u64, end: u64) -> Result<Option<Vec<u8>>, RemoteError> {
        let path = self.path(key)?;
        match self.rt.block_on(self.store.get_range(&path, start..end)) {
            Ok(b) if b.len() as u64 == end - start => Ok(Some(b.to_vec())),
            Ok(b) => Err(RemoteError::Corrupt(format!(
                "{key}: asked for {} bytes, got {}",
                end - start,
                b.len()
            ))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err("reading", key, e)),
        }
    }

    fn put(&self, key: &str, data: &[u8]) -> Result<(), RemoteError> {
        let path = self.path(key)?;
        let payload = PutPayload::from(bytes_of(data));
        self.rt
            .block_on(self.store.put(&path, payload))
            .map(|_| ())
            .map_err(|e| self.err("writing", key, e))
    }

    fn create(&self, key: &str, data: &[u8]) -> Result<Created, RemoteError> {
        let path = self.path(key)?;
        let payload = PutPayload::from(bytes_of(data));
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self.rt.block_on(self.store.put_opts(&path, payload, opts)) {
            Ok(_) => Ok(Created::New),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(Created::Exists),
            Err(e) => Err(self.err("creating", key, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, RemoteError> {
        let p = self.path(prefix.trim_end_matches('/'))?;
        let strip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        let r: Result<Vec<(String, u64)>, object_store::Error> = self.rt.block_on(async {
            self.store
                .list(Some(&p))
                .map_ok(|m| (m.location.as_ref()[strip..].to_string(), m.size))
                .try_collect()
                .await
        });
        let mut v = r.map_err(|e| self.err("listing", prefix, e))?;
        v.sort();
        Ok(v)
    }

    fn delete(&self, key: &str) -> Result<(), RemoteError> {
        let path = self.path(key)?;
        match self.rt.block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("deleting", key, e)),
        }
    }
}

fn bytes_of(data: &[u8]) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_backend_create_is_exclusive_and_keys_cannot_climb_out() {
        let d = tempfile::tempdir().unwrap();
        let b = DirBackend::open(d.path()).unwrap();
        assert_eq!(b.create("a/b", b"1").unwrap(), Created::New);
        assert_eq!(b.create("a/b", b"2").unwrap(), Created::Exists);
        assert_eq!(b.get("a/b", 10).unwrap().unwrap(), b"1");
        assert!(b.get("a/b", 0).is_err(), "larger than allowed");
        assert!(b.get("a/../x", 10).is_err());
        assert!(b.put("/etc/x", b"").is_err());
        assert_eq!(b.list("a/").unwrap(), vec![("a/b".to_string(), 1)]);
        assert_eq!(b.get("missing", 10).unwrap(), None);
    }
}
