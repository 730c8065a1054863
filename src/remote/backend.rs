//! Where a remote's bytes live: a directory (a shared drive) or an S3-compatible bucket,
//! both through `object_store` (`LocalFileSystem` with fsync, `AmazonS3`).
//!
//! A [`Backend`] offers the operations the remote protocol needs, all on typed keys
//! ([`super::key`]):
//! - `get` (None when absent), `list` (every key under a prefix, with its size; names that
//!   are not mreg's keys come back apart, to be reported);
//! - `put`: write or overwrite; used only for content-addressed objects, where every
//!   writer writes the same bytes, so a retried or concurrent put is harmless;
//! - `create`: write only if the key does not exist (S3 `If-None-Match: *`; `link(2)` on
//!   a directory), answering `Created::Exists` otherwise. History lines rely on it;
//! - `delete`, used for the probe object that checks `create` is honoured, and by remote
//!   gc.
//!
//! A directory remote is durable as a local store is: every write is fsynced, and so is
//! its directory (`LocalFileSystem::with_fsync`, which reports a failed fsync instead of
//! ignoring it). Each call blocks on a small tokio runtime; callers get parallelism from
//! several threads. S3 requests are retried with backoff (a few attempts, bounded in
//! time); then the error is mapped, by `object_store`'s error variant and the typed cause
//! beneath it, to what a user can act on: no such bucket, credentials refused, endpoint
//! unreachable.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, PutPayload};

use super::key::{Key, Listing, Prefix};
use super::RemoteError;

/// The outcome of a create-only write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    New,
    Exists,
}

/// Temp files of older mreg builds' directory remotes (`.mreg-tmp-*`, left by an
/// interrupted write): never keys, never listed.
const OLD_TEMP_PREFIX: &str = ".mreg-tmp-";

/// A remote's storage (see the module docs).
pub struct Backend {
    store: Arc<dyn ObjectStore>,
    rt: tokio::runtime::Runtime,
    prefix: String,
    describe: String,
    /// Requests made (a listing counts once per page of 1,000 names, as S3 bills it).
    requests: std::sync::atomic::AtomicU64,
}

impl Backend {
    fn new(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        describe: String,
    ) -> Result<Backend, RemoteError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| RemoteError::Io(format!("starting the I/O runtime: {e}")))?;
        Ok(Backend {
            store,
            rt,
            prefix: prefix.to_string(),
            describe,
            requests: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// A remote in a local or mounted directory, which must exist.
    pub fn dir(root: &Path) -> Result<Backend, RemoteError> {
        match std::fs::metadata(root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(RemoteError::NoDirectory(format!(
                    "{} is not a directory",
                    root.display()
                )))
            }
            Err(e) => return Err(RemoteError::NoDirectory(format!("{}: {e}", root.display()))),
        }
        let fs = object_store::local::LocalFileSystem::new_with_prefix(root)
            .map_err(|e| RemoteError::NoDirectory(format!("{}: {e}", root.display())))?
            .with_fsync(true);
        Backend::new(Arc::new(fs), "", root.display().to_string())
    }

    /// Connect to an S3-compatible bucket (no request is made yet).
    pub fn s3(s: &S3Settings) -> Result<Backend, RemoteError> {
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
                    let token = std::fs::read(f).map_err(|e| {
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
        let describe = match &s.endpoint {
            Some(ep) => format!("s3://{}/{} at {ep}", s.bucket, s.prefix),
            None => format!("s3://{}/{}", s.bucket, s.prefix),
        };
        Backend::new(Arc::new(store), s.prefix.trim_matches('/'), describe)
    }

    /// For messages: `s3://bucket/prefix` or the directory.
    pub fn describe(&self) -> String {
        self.describe.clone()
    }

    /// Requests made so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count(&self, n: u64) {
        self.requests
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }

    fn path(&self, name: &str) -> Result<object_store::path::Path, RemoteError> {
        let full = if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        };
        object_store::path::Path::parse(&full)
            .map_err(|e| RemoteError::Protocol(format!("bad remote key {full:?}: {e}")))
    }

    fn err(&self, what: &str, key: &dyn std::fmt::Display, e: object_store::Error) -> RemoteError {
        classify(&format!("{what} {key} on {}", self.describe), e)
    }

    /// The object's bytes (None when absent). An object larger than `max` is refused
    /// before it is read: a remote is untrusted, and sizes bound allocations.
    pub fn get(&self, key: &Key, max: u64) -> Result<Option<Vec<u8>>, RemoteError> {
        self.count(1);
        let path = self.path(&key.path())?;
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

    /// Bytes `start..end` of an object (None when it does not exist).
    pub fn get_range(
        &self,
        key: &Key,
        start: u64,
        end: u64,
    ) -> Result<Option<Vec<u8>>, RemoteError> {
        self.count(1);
        let path = self.path(&key.path())?;
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

    /// Whether an object exists (one HEAD request).
    pub fn exists(&self, key: &Key) -> Result<bool, RemoteError> {
        self.count(1);
        let path = self.path(&key.path())?;
        match self.rt.block_on(self.store.head(&path)) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.err("checking", key, e)),
        }
    }

    /// Write or overwrite (content-addressed objects only: see the module docs).
    pub fn put(&self, key: &Key, data: &[u8]) -> Result<(), RemoteError> {
        self.count(1);
        let path = self.path(&key.path())?;
        let payload = PutPayload::from(bytes::Bytes::copy_from_slice(data));
        self.rt
            .block_on(self.store.put(&path, payload))
            .map(|_| ())
            .map_err(|e| self.err("writing", key, e))
    }

    /// Write only if the key does not exist.
    pub fn create(&self, key: &Key, data: &[u8]) -> Result<Created, RemoteError> {
        self.count(1);
        let path = self.path(&key.path())?;
        let payload = PutPayload::from(bytes::Bytes::copy_from_slice(data));
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

    /// Every name under a prefix, sorted into mreg's keys and unknown names.
    pub fn list(&self, prefix: &Prefix) -> Result<Listing, RemoteError> {
        let p = self.path(prefix.path().trim_end_matches('/'))?;
        let strip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        type Named = (String, u64, Option<std::time::SystemTime>);
        let r: Result<Vec<Named>, object_store::Error> = self.rt.block_on(async {
            self.store
                .list(Some(&p))
                .try_filter(|m| {
                    let old_temp = m
                        .location
                        .filename()
                        .is_some_and(|f| f.starts_with(OLD_TEMP_PREFIX));
                    std::future::ready(!old_temp)
                })
                .map_ok(|m| {
                    (
                        m.location.as_ref()[strip..].to_string(),
                        m.size,
                        Some(std::time::SystemTime::from(m.last_modified)),
                    )
                })
                .try_collect()
                .await
        });
        let names = r.map_err(|e| self.err("listing", prefix, e))?;
        self.count(1 + names.len() as u64 / 1000);
        Ok(Listing::from_names(names))
    }

    /// Delete an object (absent is not an error).
    pub fn delete(&self, key: &Key) -> Result<(), RemoteError> {
        self.count(1);
        let path = self.path(&key.path())?;
        match self.rt.block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("deleting", key, e)),
        }
    }
}

/// Refuse an object larger than a reader expects.
fn too_large(key: &Key, len: u64, max: u64) -> Result<(), RemoteError> {
    if len > max {
        return Err(RemoteError::Corrupt(format!(
            "{key} is {len} bytes, more than the {max} such an object can be"
        )));
    }
    Ok(())
}

/// Turn an object_store error into one a user can act on: by the error's variant, then by
/// the typed causes beneath it (the HTTP client's error, the operating system's).
fn classify(context: &str, e: object_store::Error) -> RemoteError {
    use object_store::Error as E;
    let detail = innermost(&e);
    match &e {
        E::NotFound { .. } => {
            RemoteError::NotFound(format!("{context}: the bucket does not exist ({detail})"))
        }
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => RemoteError::Credentials(
            format!("{context}: the server refused the credentials ({detail})"),
        ),
        _ if unreachable_cause(&e) => RemoteError::Unreachable(format!("{context}: {detail}")),
        _ => RemoteError::Io(format!("{context}: {detail}")),
    }
}

/// The most specific text of an error: the S3 error code and HTTP status when the server
/// answered, else the innermost cause ("Connection refused (os error 111)").
fn innermost(e: &object_store::Error) -> String {
    let mut chain = vec![e.to_string()];
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        chain.push(s.to_string());
        src = s.source();
    }
    let text = chain.join(": ");
    let code = text
        .split("<Code>")
        .nth(1)
        .and_then(|r| r.split("</Code>").next());
    let status = http_status(e);
    match (code, status) {
        (Some(c), Some(st)) => format!("HTTP {st} {c}"),
        (Some(c), None) => c.to_string(),
        (None, Some(st)) => format!("HTTP {st}"),
        (None, None) => chain
            .last()
            .map(|l| l.chars().take(300).collect())
            .unwrap_or_default(),
    }
}

/// The HTTP status of the response behind an error, if the server answered.
fn http_status(e: &object_store::Error) -> Option<u16> {
    causes(e).find_map(|c| {
        c.downcast_ref::<reqwest::Error>()
            .and_then(reqwest::Error::status)
            .map(|s| s.as_u16())
    })
}

/// The request never reached a server (refused, timed out, no route, no such host).
fn unreachable_cause(e: &object_store::Error) -> bool {
    use std::io::ErrorKind as K;
    causes(e).any(|c| {
        if let Some(r) = c.downcast_ref::<reqwest::Error>() {
            return r.is_connect() || r.is_timeout();
        }
        c.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::NotConnected
                    | K::TimedOut
                    | K::HostUnreachable
                    | K::NetworkUnreachable
            )
        })
    })
}

/// An error's causes, outermost first.
fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |c| c.source())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ObjectId;

    #[test]
    fn dir_backend_create_is_exclusive_and_lists_typed_keys() {
        let d = tempfile::tempdir().unwrap();
        let b = Backend::dir(d.path()).unwrap();
        let k = Key::Probe(ObjectId::hash(b"p"));
        assert_eq!(b.create(&k, b"1").unwrap(), Created::New);
        assert_eq!(b.create(&k, b"2").unwrap(), Created::Exists);
        assert_eq!(b.get(&k, 10).unwrap().unwrap(), b"1");
        assert!(b.get(&k, 0).is_err(), "larger than allowed");
        let o = Key::Object(ObjectId::hash(b"o"));
        b.put(&o, b"abc").unwrap();
        assert_eq!(b.get(&o, 10).unwrap().unwrap(), b"abc");
        // A stray file and an old build's temp file under objects/.
        std::fs::write(d.path().join("objects/stray"), b"x").unwrap();
        let h = ObjectId::hash(b"o").to_hex();
        std::fs::write(
            d.path().join("objects").join(&h[..2]).join(".mreg-tmp-123"),
            b"x",
        )
        .unwrap();
        let l = b.list(&Prefix::Objects).unwrap();
        assert_eq!(l.keys, vec![(o.clone(), 3)]);
        assert_eq!(l.unknown, vec![("objects/stray".to_string(), 1)]);
        b.delete(&o).unwrap();
        b.delete(&o).unwrap();
        assert_eq!(b.get(&o, 10).unwrap(), None);
        assert!(matches!(
            Backend::dir(&d.path().join("nope")),
            Err(RemoteError::NoDirectory(_))
        ));
    }
}
