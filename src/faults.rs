//! Fault injection for tests: a test arms a one-shot failure at a named point in a code path,
//! e.g. "fail the next payment after the wallet debit". The arming side exists only with the
//! `test-faults` feature (which only the test suite enables); without it every point is a no-op
//! that the compiler removes.

use crate::error::AppResult;

/// Places in the code where a test can make things fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// In `pay`, after the wallet was debited and the ledger written, before anything else.
    PayAfterDebit,
    /// In `pay` (wallet or card), after every write, just before the commit.
    PayBeforeCommit,
    /// In `topUpWallet`, after the charge and every write, just before the commit.
    TopUpBeforeCommit,
    /// In a batch of holds (`reservations::batch`), after every write, just before the commit.
    ReserveBatchBeforeCommit,
    /// In the e-mail worker, recording a delivery's outcome (`mail::delivery`).
    MailSettle,
}

#[cfg(feature = "test-faults")]
#[derive(Debug, Default)]
pub struct Faults {
    armed: std::sync::Mutex<Vec<Fault>>,
}

#[cfg(feature = "test-faults")]
impl Faults {
    /// The next time the code passes `fault`, it fails (once).
    pub fn arm(&self, fault: Fault) {
        self.armed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(fault);
    }

    fn trip(&self, fault: Fault) -> bool {
        let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        match armed.iter().position(|f| *f == fault) {
            Some(i) => {
                armed.remove(i);
                true
            }
            None => false,
        }
    }
}

/// The batcher of holds keeps the `Faults` itself (it sits below the state).
#[cfg(feature = "test-faults")]
impl AsRef<Faults> for Faults {
    fn as_ref(&self) -> &Faults {
        self
    }
}

/// Fails with an internal error if a test armed `fault`. `state` is the application state
/// (`AppState: AsRef<Faults>`, in `state.rs`): taking it generically keeps this module below
/// the state in the import graph, since the state holds the `Faults`.
#[cfg(feature = "test-faults")]
pub fn point<S: AsRef<Faults> + ?Sized>(state: &S, fault: Fault) -> AppResult<()> {
    if state.as_ref().trip(fault) {
        return Err(crate::error::AppError::internal(anyhow::anyhow!(
            "injected fault {fault:?}"
        )));
    }
    Ok(())
}

#[cfg(not(feature = "test-faults"))]
#[inline(always)]
pub fn point<S: ?Sized>(_state: &S, _fault: Fault) -> AppResult<()> {
    Ok(())
}
