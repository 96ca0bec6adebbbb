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
