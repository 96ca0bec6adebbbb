//! Alert dedup.

use nightshift_runs::deadline_alert_key;

use crate::{Db, nov};

#[test]
fn an_alert_key_is_recorded_once() {
    let db = Db::new();
    let store = db.open();
    let key = deadline_alert_key("root_cause", nov(22, 0, 0));
    assert_eq!(key, "deadline:root_cause:2026-11-22");
    assert!(store.record_alert(&key, nov(22, 9, 1)).expect("record"));
    assert!(!store.record_alert(&key, nov(22, 9, 2)).expect("record"));
    // Another store on the same file agrees.
    let other = db.open();
    assert!(!other.record_alert(&key, nov(22, 9, 3)).expect("record"));
    assert!(
        other
            .record_alert("deadline:root_cause:2026-11-23", nov(23, 9, 1))
            .expect("record")
    );
    assert!(store.record_alert("", nov(22, 9, 1)).is_err());
}

#[test]
fn a_claim_never_marked_sent_is_taken_over_once_stale() {
    // The sender died between claiming an alert and a sink taking it: a later tick sends it.
    let db = Db::new();
    let store = db.open();
    let key = "failed:root_cause:2026-11-22T06:00:00+00:00:features";
    assert!(store.record_alert(key, nov(22, 9, 0)).expect("claim"));
    assert!(
        !store.record_alert(key, nov(22, 9, 4)).expect("claim"),
        "a claim holds for a while (its sender may still be delivering)"
    );
    assert!(!store.alert_recorded(key).expect("sent?"));
    assert!(
        store.record_alert(key, nov(22, 9, 6)).expect("claim"),
        "stale after 5 minutes"
    );
    store.mark_alert_sent(key, nov(22, 9, 6)).expect("sent");
    assert!(store.alert_recorded(key).expect("sent?"));
    assert!(
        !store.record_alert(key, nov(23, 9, 0)).expect("claim"),
        "sent once, never again"
    );
}
