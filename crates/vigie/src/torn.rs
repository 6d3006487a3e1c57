//! A torn tail cut from the ledger at start, raised for what it is known to be: entries after
//! the last published checkpoint, covered by no checkpoint and no witness directory, whose bytes
//! were kept aside. It is logged (one line at error level), sent through the alert sinks as a
//! system alert (`event: "system"`, `action: "ledger_tail_cut"`: the JSON-lines file, the
//! webhook, syslog at severity alert), and recorded in the ledger itself as a
//! `ledger.tail_cut` security event, which takes the first cut entry's index. A crash explains
//! it most often; so would someone with access to the disk removing entries no witness holds,
//! and only the security team can tell the two apart (the kept bytes, the HTTP witnesses'
//! checkpoints, the web server's logs of the answers sent).

use vigie_alerts::{Alert, Alerter};
use vigie_core::ports::AccessLedger;
use vigie_core::security::{SecurityEvent, SecurityKind};
use vigie_core::time::Timestamp;
use vigie_ledger::{Ledger, TornTail};

/// The alert's reasons: the facts, as `key=value`.
pub fn reasons(torn: &TornTail) -> Vec<String> {
    vec![
        format!("bytes={}", torn.bytes),
        format!("segment={} offset={}", torn.segment.display(), torn.offset),
        format!(
            "entries_at_most={} first_index={} last_index_at_most={}",
            torn.max_entries,
            torn.first_index,
            torn.last_index()
        ),
        match torn.checkpoint_size {
            Some(size) => format!("after_checkpoint_size={size}"),
            None => "after_checkpoint_size=none".to_owned(),
        },
        format!("fault={}", torn.fault),
        format!("kept={}", torn.kept.display()),
        "acknowledged=unknown covered_by_witness=no".to_owned(),
    ]
}

/// Logs, alerts and ledgers the cut. A failure to ledger it is logged, not fatal: the alert and
/// the kept bytes already say it, and refusing to start would not bring the entries back.
pub fn raise(torn: &TornTail, ledger: &Ledger, alerter: &Alerter, now: Timestamp) {
    tracing::error!("ledger: {}", torn.describe());
    alerter.emit(Alert::system(now.millis(), "ledger_tail_cut", reasons(torn)));
    let event = SecurityEvent::new(now, SecurityKind::LedgerTailCut)
        .detail("bytes", torn.bytes)
        .detail("first_index", torn.first_index)
        .detail("last_index_at_most", torn.last_index())
        .detail("after_checkpoint_size", torn.checkpoint_size.map_or("none".to_owned(), |s| s.to_string()))
        .detail("kept", torn.kept.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned()));
    if let Err(e) = ledger.record(&[event]) {
        tracing::error!(error = %e, "the ledger.tail_cut security event could not be ledgered");
    }
}
