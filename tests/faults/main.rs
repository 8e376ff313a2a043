//! Fault injection (bounded, on loopback and in namespaces the tests create): each real part the
//! server depends on is broken while sessions are open, and each test checks that the client gets
//! a clear error, the server does not crash, no `ssh`/`aws` process is orphaned, no audit row is
//! lost or duplicated, and service resumes once the part is back. Every broken part is the test's
//! own (a private Docker engine, sshd or PostgreSQL), so the rest of the suite is not disturbed.

#[path = "../support/mod.rs"]
mod support;

mod docker;
mod eic;
mod files;
mod postgres;
mod request_ids;
mod shutdown;
