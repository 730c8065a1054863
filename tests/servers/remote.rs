//! A remote for a test: a shared directory, or a bucket on a real S3 server on loopback,
//! driven through the real binary.
#![allow(dead_code)]

use super::{creds, Kind, Server};
use crate::common::{Run, TestRepo};

/// A remote: a shared directory, or a bucket on a real S3 server on loopback.
pub struct Remote {
    pub url: String,
    pub endpoint: Option<String>,
    _dir: Option<tempfile::TempDir>,
    _server: Option<Server>,
}

impl Remote {
    pub fn dir() -> Remote {
        let d = tempfile::tempdir().unwrap();
        Remote {
            url: d.path().display().to_string(),
            endpoint: None,
            _dir: Some(d),
            _server: None,
        }
    }

    pub fn seaweed() -> Remote {
        let s = Server::start(Kind::Seaweed);
        s.create_bucket("models");
        Remote {
            url: "s3://models/team".into(),
            endpoint: Some(s.endpoint()),
            _dir: None,
            _server: Some(s),
        }
    }

    pub fn run(&self, r: &TestRepo, args: &[&str]) -> Run {
        r.mreg_env(args, &creds())
    }

    pub fn add(&self, r: &TestRepo) {
        let mut a = vec!["remote", "add", "origin", self.url.as_str()];
        if let Some(e) = &self.endpoint {
            a.extend(["--endpoint", e.as_str()]);
        }
        self.run(r, &a).ok();
    }

    pub fn clone(&self) -> TestRepo {
        let c = TestRepo::bare();
        let mut a = vec!["clone", self.url.as_str(), "."];
        if let Some(e) = &self.endpoint {
            a.extend(["--endpoint", e.as_str()]);
        }
        self.run(&c, &a).ok();
        c
    }
}
