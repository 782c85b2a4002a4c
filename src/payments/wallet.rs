//! Paying from the wallet: one database transaction locks the event (shared, so a cancelEvent
//! waits for it) and the reservation, checks the hold and that the event is not cancelled, debits
//! the wallet, writes the ledger, confirms the reservation, issues the tickets, records the
//! SUCCEEDED transaction and stores its report and notification. Any failure rolls all of it
//! back; the attempt is then recorded as a FAILED transaction (with its report) in a separate
//! write, so the organizer still sees it.

use entity::reservation;
use entity::transaction::PaymentMethod;

use super::attempt::{
    Failed, Paid, Verdict, confirm_and_commit, key_clash, not_cancelled, release_expired,
    succeeded, verdict,
};
use super::ledger;
use crate::auth::Viewer;
use crate::db::begin_write;
use crate::faults::{self, Fault};
use crate::reservations::service::{lock, lock_event};
use crate::state::AppState;

pub(super) async fn pay_with_wallet(
    state: &AppState,
    viewer: &Viewer,
    actor: &crate::audit::Actor,
    r: &reservation::Model,
    key: &str,
) -> Result<Paid, Failed> {
    let txn = begin_write(&state.db).await?;
    let event = lock_event(&txn, r.event_id).await?;
    let r = lock(&txn, r.id).await?;
    match verdict(&txn, &r, key).await? {
        Verdict::Replay(paid) => return Ok(*paid),
        Verdict::Expired => {
            drop(txn);
            return Err(release_expired(state, r.id).await?.into());
        }
        Verdict::Payable => {}
    }
    not_cancelled(&event)?;
    let t = ledger::record(
        &txn,
        succeeded(viewer, &r, key, PaymentMethod::Wallet, None),
    )
    .await
    .map_err(key_clash)?;
    if r.amount_cents > 0 {
        ledger::debit(&txn, viewer.user_id, r.amount_cents, t.id).await?;
    }
    faults::point(state, Fault::PayAfterDebit)?;
    confirm_and_commit(state, actor, txn, &r, t).await
}
