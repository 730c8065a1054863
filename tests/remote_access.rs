//! Reaching a remote: credentials (static keys, profiles, the AWS chain on loopback
//! stand-ins for EC2 and EKS), clear errors for a wrong key, a missing bucket or an
//! unreachable endpoint, and servers that ignore conditional writes — each refused
//! before anything changes.

use crate::common::{noise, TestRepo};
use crate::remote::{remote_add, s3, store_with_two_versions};
use crate::servers;
use crate::servers::{Kind, Server};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

#[test]
fn a_server_that_ignores_conditional_writes_is_refused_for_history() {
    if !servers::available("a_server_that_ignores_conditional_writes_is_refused_for_history") {
        return;
    }
    let server = Server::start(Kind::Rclone);
    server.create_bucket("models");
    let (r, _, _) = store_with_two_versions(1000);
    let before = r.snapshot();
    let out = remote_add(&r, "origin", "s3://models/x", &server.endpoint()).fails();
    assert!(
        out.stderr.contains("does not honour conditional writes"),
        "{}",
        out.stderr
    );
    assert_eq!(
        r.snapshot(),
        before,
        "a refused remote add changed the store"
    );
    // Added without the check, the first push still refuses before writing history.
    s3(
        &r,
        &[
            "remote",
            "add",
            "origin",
            "s3://models/x",
            "--endpoint",
            &server.endpoint(),
            "--no-check",
        ],
    )
    .ok();
    let out = s3(&r, &["push"]).fails();
    assert!(
        out.stderr.contains("does not honour conditional writes"),
        "{}",
        out.stderr
    );
    assert!(
        !server.dir.path().join("data/models/x/models").exists(),
        "history was written"
    );
}

#[test]
fn wrong_credentials_missing_bucket_and_unreachable_endpoint_are_clear_and_change_nothing() {
    if !servers::available(
        "wrong_credentials_missing_bucket_and_unreachable_endpoint_are_clear_and_change_nothing",
    ) {
        return;
    }
    let server = Server::start(Kind::Seaweed);
    server.create_bucket("models");
    let moto = Server::start(Kind::Moto);
    let (r, _, _) = store_with_two_versions(1000);
    let before = r.snapshot();
    let bad = [
        ("AWS_ACCESS_KEY_ID", servers::KEY),
        ("AWS_SECRET_ACCESS_KEY", "wrong"),
        ("MREG_REMOTE_RETRIES", "1"),
    ];
    let out = r
        .mreg_env(
            &[
                "remote",
                "add",
                "o",
                "s3://models/x",
                "--endpoint",
                &server.endpoint(),
            ],
            &bad,
        )
        .fails();
    assert!(out.stderr.contains("credentials refused"), "{}", out.stderr);
    assert!(
        out.stderr.contains("hint: set AWS_ACCESS_KEY_ID"),
        "{}",
        out.stderr
    );

    let out = remote_add(&r, "o", "s3://no-such-bucket/x", &moto.endpoint()).fails();
    assert!(
        out.stderr.contains("the bucket does not exist"),
        "{}",
        out.stderr
    );

    let port = servers::free_port();
    let out = remote_add(
        &r,
        "o",
        "s3://models/x",
        &format!("http://127.0.0.1:{port}"),
    )
    .fails();
    assert!(out.stderr.contains("remote unreachable"), "{}", out.stderr);
    assert!(out.stderr.contains("Connection refused"), "{}", out.stderr);

    // No credentials at all.
    let out = remote_add_from_home(&r, &server, r.path(), None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no AWS credentials found"));
    assert_eq!(r.snapshot(), before);

    // A clone that cannot reach its remote leaves no directory behind.
    let d = tempfile::tempdir().unwrap();
    let c = TestRepo { dir: d };
    let out = s3(
        &c,
        &[
            "clone",
            "s3://models/x",
            "sub",
            "--endpoint",
            &format!("http://127.0.0.1:{port}"),
        ],
    )
    .fails();
    assert!(out.stderr.contains("remote unreachable"), "{}", out.stderr);
    assert!(!c.path().join("sub").exists());

    // Credentials from an AWS profile file.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".aws")).unwrap();
    std::fs::write(
        home.path().join(".aws/credentials"),
        format!("[default]\naws_access_key_id = nobody\n\n[team]\naws_access_key_id = {}\naws_secret_access_key = {}\n", servers::KEY, servers::SECRET),
    )
    .unwrap();
    let out = remote_add_from_home(&r, &server, home.path(), Some("team"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = std::fs::read_to_string(r.store().join("config.yaml")).unwrap();
    assert!(
        !cfg.contains(servers::SECRET) && !cfg.contains(servers::KEY),
        "credentials were written"
    );
}

/// `mreg remote add o s3://models/x` with no AWS variables: credentials come from the AWS
/// files under `home` (profile `profile`, else default).
fn remote_add_from_home(
    r: &TestRepo,
    server: &Server,
    home: &Path,
    profile: Option<&str>,
) -> std::process::Output {
    let mut c = r.command(&[
        "remote",
        "add",
        "o",
        "s3://models/x",
        "--endpoint",
        &server.endpoint(),
    ]);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        // A cloud test machine's own metadata service must not lend it a role.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", home);
    if let Some(p) = profile {
        c.env("AWS_PROFILE", p);
    }
    c.output().unwrap()
}

/// The credential endpoints of a cloud machine (IMDSv2, EKS Pod Identity), stood in for on
/// loopback by `servers/aws_metadata.py`; killed on drop.
struct MetadataServer {
    child: std::process::Child,
    port: u16,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl MetadataServer {
    fn start() -> MetadataServer {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests.log");
        let port = servers::free_port();
        let child = std::process::Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers/aws_metadata.py"))
            .arg(port.to_string())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the metadata stand-in");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "metadata stand-in did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        MetadataServer {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    fn requests(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for MetadataServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Issue 25: without static keys, mreg follows the AWS credential chain as the AWS tools do:
/// the instance's role (EC2 metadata, IMDSv2) and EKS Pod Identity (container credentials)
/// reach a real S3 server (moto, which accepts the credentials it is given); with no source
/// at all the error lists every way to give credentials. (Web identity is wired too, but
/// object_store asks STS over HTTPS only, which no loopback server here offers.)
#[test]
fn the_aws_credential_chain_reaches_s3_without_static_keys() {
    if !servers::available("the_aws_credential_chain_reaches_s3_without_static_keys") {
        return;
    }
    let server = Server::start(Kind::Moto);
    server.create_bucket("models");
    let meta = MetadataServer::start();
    let (a, _, _) = store_with_two_versions(1000);
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, String)]| {
        let mut c = a.command(args);
        c.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("HOME", home.path())
            .env("AWS_REGION", "us-east-1")
            .env("MREG_REMOTE_RETRIES", "1");
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let endpoint = server.endpoint();
    // The instance's role, through the metadata service.
    let imds = [(
        "AWS_METADATA_ENDPOINT",
        format!("http://127.0.0.1:{}", meta.port),
    )];
    let (code, err) = run(
        &[
            "remote",
            "add",
            "origin",
            "s3://models/chain",
            "--endpoint",
            &endpoint,
        ],
        &imds,
    );
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = run(&["push"], &imds);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        meta.requests().contains("PUT /latest/api/token 200")
            && meta
                .requests()
                .contains("GET /latest/meta-data/iam/security-credentials/mreg-role 200"),
        "{}",
        meta.requests()
    );
    // EKS Pod Identity: a token file and the agent's URL.
    let token = home.path().join("eks-token");
    std::fs::write(&token, "eks-pod-token").unwrap();
    let eks = [
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("http://127.0.0.1:{}/eks-creds", meta.port),
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token.display().to_string(),
        ),
    ];
    a.write("model.bin", &noise(1000, 9));
    a.commit(&["model.bin", "--model", "fraud", "-q"]);
    let (code, err) = run(&["push"], &eks);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        meta.requests().contains("GET /eks-creds 200"),
        "{}",
        meta.requests()
    );
    // A token file with a line break is refused clearly (object_store would panic on it).
    std::fs::write(&token, "eks-pod-token\n").unwrap();
    let (code, err) = run(&["push"], &eks);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("no line break") && !err.contains("panicked"),
        "{err}"
    );
    // No source at all: the error names them all.
    let (code, err) = run(&["push"], &[("AWS_EC2_METADATA_DISABLED", "true".into())]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("no AWS credentials found") && err.contains("web identity"),
        "{err}"
    );
}
