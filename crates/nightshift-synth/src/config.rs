//! Generation parameters.

use chrono::{DateTime, NaiveDate, Utc};

use crate::Error;
use crate::taxonomy::{DriftTarget, resolve_drift};

/// Parameters of the synthetic warehouse. Output is a pure function of this and the date.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// Master seed (default 42).
    pub seed: u64,
    /// Support contacts created per day (default 20 000). Trips per day are the same number,
    /// food orders half of it.
    pub rows_per_day: usize,
    /// Share of contacts that get an agent label (default 0.15).
    pub label_fraction: f64,
    /// Share of agent labels that are wrong (default 0.05): another subcategory of the same
    /// category most of the time, of another category otherwise.
    pub label_noise: f64,
    /// Share of contacts ingested 1-2 days after creation (default 0.03).
    pub late_fraction: f64,
    /// An issue surging from some day on (default none).
    pub drift: Option<Drift>,
    /// The warehouse's "now": contacts ingested and labels made after it are left out.
    /// Default: far in the future (2100-01-01), i.e. everything has arrived.
    pub snapshot: DateTime<Utc>,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            rows_per_day: 20_000,
            label_fraction: 0.15,
            label_noise: 0.05,
            late_fraction: 0.03,
            drift: None,
            snapshot: DateTime::<Utc>::from_timestamp(4_102_444_800, 0).unwrap_or_default(),
        }
    }
}

/// A root cause whose share surges from `from` on, with new wording ("since the update").
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    /// First day of the surge.
    pub from: NaiveDate,
    /// The surging subcategory: `"name"` or `"category/name"` of [`crate::taxonomy`] (e.g.
    /// `"payments/card_declined"`), or `"category/new_name"` for a root cause the taxonomy does
    /// not know yet (e.g. `"payments/app_update_card_declined"`): its contacts are worded like
    /// the category's subcategory that `new_name` ends with (or its first one) plus "since the
    /// update", and their labels and truth say `new_name`.
    pub subcategory: String,
    /// Share of a day's contacts that are forced to the subcategory once the surge is at full
    /// strength; it ramps up over three days (1/3, 2/3, full). Default 0.15.
    pub share: f64,
}

impl Drift {
    /// A surge of `subcategory` from `from` at the default share 0.15.
    pub fn new(from: NaiveDate, subcategory: impl Into<String>) -> Self {
        Self {
            from,
            subcategory: subcategory.into(),
            share: 0.15,
        }
    }

    /// Share of contacts forced to the surging subcategory on `date` (0 before `from`).
    pub fn share_on(&self, date: NaiveDate) -> f64 {
        let days = (date - self.from).num_days();
        if days < 0 {
            0.0
        } else {
            self.share * ((days + 1).min(3) as f64 / 3.0)
        }
    }
}

impl SynthConfig {
    /// Checks ranges; resolves the drift's subcategory if any.
    pub(crate) fn validate(&self) -> Result<Option<DriftTarget>, Error> {
        for (name, v) in [
            ("label_fraction", self.label_fraction),
            ("label_noise", self.label_noise),
            ("late_fraction", self.late_fraction),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::InvalidConfig(format!(
                    "{name} must be within [0, 1], got {v}"
                )));
            }
        }
        if self.rows_per_day > 9_999_999 {
            return Err(Error::InvalidConfig(format!(
                "rows_per_day must be at most 9999999 (7-digit ids), got {}",
                self.rows_per_day
            )));
        }
        match &self.drift {
            None => Ok(None),
            Some(d) => {
                if !(0.0..=1.0).contains(&d.share) {
                    return Err(Error::InvalidConfig(format!(
                        "drift.share must be within [0, 1], got {}",
                        d.share
                    )));
                }
                resolve_drift(&d.subcategory)
                    .map(Some)
                    .ok_or_else(|| Error::UnknownSubcategory(d.subcategory.clone()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_ramps_over_three_days() {
        let from = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let d = Drift::new(from, "card_declined");
        assert_eq!(d.share_on(from.pred_opt().unwrap()), 0.0);
        assert!((d.share_on(from) - 0.05).abs() < 1e-9);
        assert!((d.share_on(from.succ_opt().unwrap()) - 0.10).abs() < 1e-9);
        assert!((d.share_on(from + chrono::Days::new(5)) - 0.15).abs() < 1e-9);
    }

    #[test]
    fn validation() {
        let mut c = SynthConfig::default();
        assert!(c.validate().unwrap().is_none());
        c.label_noise = 1.5;
        assert!(matches!(c.validate(), Err(Error::InvalidConfig(_))));
        c.label_noise = 0.05;
        c.drift = Some(Drift::new(NaiveDate::default(), "nowhere/nope"));
        assert!(matches!(c.validate(), Err(Error::UnknownSubcategory(_))));
    }
}
