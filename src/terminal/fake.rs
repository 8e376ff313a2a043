//! A shell's controls for the bridge's and the attachments' tests: records what was asked.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::backend::{BackendError, TermSize, TerminalControl};

/// Records resizes and kills; the shell "exits" with code 3.
#[derive(Default)]
pub struct FakeControl {
    pub resizes: Mutex<Vec<TermSize>>,
    pub killed: Mutex<bool>,
}

#[async_trait]
impl TerminalControl for FakeControl {
    async fn resize(&self, size: TermSize) -> Result<(), BackendError> {
        self.resizes.lock().unwrap().push(size);
        Ok(())
    }
    async fn exit_code(&self) -> Result<Option<i64>, BackendError> {
        Ok(Some(3))
    }
    async fn kill(&self) {
        *self.killed.lock().unwrap() = true;
    }
}
