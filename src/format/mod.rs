//! What mreg serializes about a version: commits, recipes (how a version was made), and the
//! params and metrics files users hand to `commit` and `run`.

pub mod commit;
pub mod datafile;
pub mod recipe;
pub mod time;
