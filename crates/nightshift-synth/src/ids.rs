//! Identifier formatting: `<prefix><7 digits>`, e.g. `c-20261120-0000123`.
//!
//! Trip and order ids are derived from (date, index) only, so a contact can reference trip
//! `t-20261118-0004567` without generating that day.

/// Appends `prefix` and `index` zero-padded to 7 digits (more digits if larger).
pub(crate) fn push_id(s: &mut String, prefix: &str, index: usize) {
    s.push_str(prefix);
    let mut digits = [b'0'; 20];
    let mut n = index;
    let mut len = 0;
    while n > 0 {
        digits[19 - len] = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
    }
    let len = len.max(7);
    for &d in &digits[20 - len..] {
        s.push(d as char);
    }
}

/// `"<kind>-YYYYMMDD-"` for a date.
pub(crate) fn prefix(kind: &str, date: chrono::NaiveDate) -> String {
    format!("{kind}-{}-", date.format("%Y%m%d"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let mut s = String::new();
        push_id(&mut s, "c-20261120-", 123);
        assert_eq!(s, "c-20261120-0000123");
        s.clear();
        push_id(&mut s, "t-", 0);
        assert_eq!(s, "t-0000000");
        s.clear();
        push_id(&mut s, "", 12_345_678);
        assert_eq!(s, "12345678");
        let d = chrono::NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        assert_eq!(prefix("o", d), "o-20261102-");
    }
}
