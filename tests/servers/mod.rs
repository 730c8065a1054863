//! Real S3 servers on loopback for the remote tests: SeaweedFS (`weed mini`), moto's server
//! mode, and `rclone serve s3` (the server that ignores conditional writes). They come
//! from the Python venv that `.ci/setup-s3-servers` creates (`.venv-s3`, or
//! `MREG_S3_VENV`). A test that cannot start its server fails loudly: it never skips.
//!
//! Every server binds 127.0.0.1, and is killed when its guard drops (also on a failed
//! assertion) and, as a backstop, when the test process dies (`PR_SET_PDEATHSIG`).
#![allow(dead_code)]

pub mod remote;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub const KEY: &str = "AKIAMREGTESTKEY";
pub const SECRET: &str = "mreg-test-secret-key";

fn venv_path() -> PathBuf {
    std::env::var("MREG_S3_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-s3"))
}

/// Whether this test can run its S3 server. A plain `cargo test` on a machine without the
/// servers skips the test and says so (written past libtest's output capture, so it shows
/// even for a passing run); under `tests/run-all` and CI (`MREG_REQUIRE_S3_SERVERS` set) a
/// missing server fails the test instead: CI never skips.
pub fn available(test: &str) -> bool {
    if venv_path().join("bin/python").exists() {
        return true;
    }
    if std::env::var_os("MREG_REQUIRE_S3_SERVERS").is_some() {
        venv(); // fails with the command that installs them
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: the S3 test servers are not installed (run .ci/setup-s3-servers, or set MREG_S3_VENV; tests/run-all does it)"
    );
    false
}

pub fn venv() -> PathBuf {
    let v = venv_path();
    assert!(
        v.join("bin/python").exists(),
        "the S3 test servers are not installed: run .ci/setup-s3-servers (creates {}; or set MREG_S3_VENV)",
        v.display()
    );
    v
}

fn bin(name: &str) -> PathBuf {
    let p = venv().join("bin").join(name);
    assert!(
        p.exists(),
        "{} is missing: rerun .ci/setup-s3-servers",
        p.display()
    );
    p
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// SeaweedFS opens fixed ports besides the S3 one: one instance at a time per process.
static SEAWEED: Mutex<()> = Mutex::new(());

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Seaweed,
    Moto,
    Rclone,
}

pub struct Server {
    pub kind: Kind,
    pub port: u16,
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    log: PathBuf,
    _exclusive: Option<MutexGuard<'static, ()>>,
}

fn spawn(cmd: &mut Command, log: &Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
}

impl Server {
    pub fn start(kind: Kind) -> Server {
        let exclusive =
            (kind == Kind::Seaweed).then(|| SEAWEED.lock().unwrap_or_else(|p| p.into_inner()));
        let dir = tempfile::tempdir().unwrap();
        let mut s = Server {
            kind,
            port: free_port(),
            child: None,
            log: dir.path().join("server.log"),
            dir,
            _exclusive: exclusive,
        };
        s.launch();
        s
    }

    fn launch(&mut self) {
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        if self.kind == Kind::Rclone {
            // rclone serves the directories that exist when it starts as buckets.
            std::fs::create_dir_all(data.join("models")).unwrap();
        }
        let mut cmd = match self.kind {
            Kind::Seaweed => {
                let mut c = Command::new(bin("weed"));
                c.args([
                    "mini",
                    &format!("-dir={}", data.display()),
                    "-ip=127.0.0.1",
                    "-ip.bind=127.0.0.1",
                    "-admin.ui=false",
                    &format!("-s3.port={}", self.port),
                    "-s3.port.iceberg=0",
                    "-s3.port.lance=0",
                ])
                .env("AWS_ACCESS_KEY_ID", KEY)
                .env("AWS_SECRET_ACCESS_KEY", SECRET);
                c
            }
            Kind::Moto => {
                let mut c = Command::new(bin("moto_server"));
                c.args(["-H", "127.0.0.1", "-p", &self.port.to_string()]);
                c
            }
            Kind::Rclone => {
                let mut c = Command::new(bin("rclone"));
                c.args([
                    "serve",
                    "s3",
                    "--addr",
                    &format!("127.0.0.1:{}", self.port),
                    "--auth-key",
                    &format!("{KEY},{SECRET}"),
                    &data.display().to_string(),
                ]);
                c
            }
        };
        self.child = Some(spawn(&mut cmd, &self.log));
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // Ready when it answers S3 with our credentials (SeaweedFS listens before its
            // filer is up).
            if self.python("s3.list_buckets()").is_ok() {
                return;
            }
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "{:?} server exited ({st}) before answering:\n{}",
                    self.kind,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{:?} server did not answer on 127.0.0.1:{} within 60 s:\n{}",
                self.kind,
                self.port,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Run a boto3 snippet against the server (`s3` is the client).
    pub fn python(&self, code: &str) -> Result<String, String> {
        let script = format!(
            "import boto3, botocore\ns3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='{KEY}', aws_secret_access_key='{SECRET}', region_name='us-east-1', config=botocore.config.Config(retries={{'max_attempts': 1}}, connect_timeout=2, read_timeout=10))\nprint({code})\n",
            self.endpoint()
        );
        let out = Command::new(venv().join("bin/python"))
            .args(["-c", &script])
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    pub fn create_bucket(&self, name: &str) {
        if self.kind == Kind::Rclone {
            std::fs::create_dir_all(self.dir.path().join("data").join(name)).unwrap();
            return;
        }
        self.python(&format!("s3.create_bucket(Bucket='{name}')"))
            .unwrap_or_else(|e| panic!("creating bucket {name}: {e}"));
    }

    /// Stop the server (SIGKILL), keeping its data.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start it again on the same port with the same data.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The environment a command needs to reach these servers.
pub fn creds() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AWS_ACCESS_KEY_ID", KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_REGION", "us-east-1"),
        ("MREG_REMOTE_RETRIES", "2"),
    ]
}
