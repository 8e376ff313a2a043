//! The one policy for poisoned locks: they are taken anyway. Every `std` mutex in the server
//! guards a map, a counter or a handle that each critical section leaves whole (a value inserted,
//! removed or replaced), so what a panicking holder left behind is still consistent, while
//! passing the poison on would turn one panicked request into a panic in every later one.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locking under the policy above.
pub trait Locked<T> {
    /// The guard, whether or not an earlier holder panicked.
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_whose_holder_panicked_is_still_taken_with_its_last_value() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let held = m.clone();
        let _ = std::thread::spawn(move || {
            let mut guard = held.lock().unwrap();
            *guard = 2;
            panic!("the holder fails while it holds the lock");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*m.locked(), 2);
    }
}
