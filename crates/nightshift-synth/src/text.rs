//! Message realisation: composes a customer message from the phrasing banks of
//! [`crate::taxonomy`], fills its slots, then adds casing noise and typos.

use std::fmt::Write as _;

use rand::Rng;

use crate::rng::choose;
use crate::taxonomy::{
    CONNECTORS, DRIFT_PHRASES, FOREIGN_CLOSERS, FOREIGN_OPENERS, GENERIC_ISSUES, GENERIC_REQUESTS,
    OPENERS, REQUESTS, SUBS, VAGUE,
};
use crate::world::{CARDS, ITEMS, PLACES, TIMES};

/// Language codes, index 0 is English.
pub(crate) const LANGUAGES: [&str; 4] = ["en", "es", "pt", "fr"];

/// Share of messages that are vague or off-topic.
const VAGUE_RATE: f64 = 0.03;
/// Share of messages that are a two-to-four word summary.
const SHORT_RATE: f64 = 0.12;
/// Share of non-English customers who actually write in their language.
const FOREIGN_TEXT_RATE: f64 = 0.45;
/// Share of full messages whose issue statement only names the category.
const GENERIC_RATE: f64 = 0.08;
/// Share of messages with typos, and of words with a typo in those.
const TYPO_MESSAGE_RATE: f64 = 0.25;
const TYPO_WORD_RATE: f64 = 0.10;

const PROMOS: &[&str] = &[
    "SAVE20",
    "WELCOME10",
    "FREEDEL",
    "SUMMER15",
    "EATS5OFF",
    "RIDE50",
];

/// Values for the slots of a message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slots<'a> {
    pub(crate) currency: &'a str,
    /// What the customer paid (trip fare, order basket or a plausible amount).
    pub(crate) amount: f64,
    /// What they expected to pay.
    pub(crate) expected: f64,
    pub(crate) driver: &'a str,
    pub(crate) restaurant: &'a str,
}

/// Writes messages; keeps a scratch buffer so realising a message does not allocate.
#[derive(Debug, Default)]
pub(crate) struct Realiser {
    scratch: String,
}

impl Realiser {
    /// Replaces `out` with a message about subcategory `sub` written by a customer whose app
    /// language is `LANGUAGES[language]`. `drift_wording` is the probability that a full message
    /// carries the wording of a new, surging issue ("since the update").
    pub(crate) fn write<R: Rng>(
        &mut self,
        rng: &mut R,
        out: &mut String,
        sub: usize,
        language: usize,
        slots: &Slots<'_>,
        drift_wording: f64,
    ) {
        let s = &mut self.scratch;
        s.clear();
        let spec = &SUBS[sub];
        let u: f64 = rng.random();
        if u < VAGUE_RATE {
            s.push_str(choose(rng, VAGUE));
        } else if language > 0 && rng.random_bool(FOREIGN_TEXT_RATE) {
            let l = language - 1;
            if rng.random_bool(0.5) {
                s.push_str(choose(rng, FOREIGN_OPENERS[l]));
                s.push_str(", ");
            }
            s.push_str(spec.foreign[l]);
            if rng.random_bool(0.4) {
                sentence_break(s);
                s.push_str(choose(rng, FOREIGN_CLOSERS[l]));
            }
        } else if u < VAGUE_RATE + SHORT_RATE {
            fill_one(rng, s, spec.short, slots);
            let p = if drift_wording >= 1.0 {
                1.0
            } else {
                drift_wording * 0.67
            };
            if p > 0.0 && rng.random_bool(p) {
                s.push(' ');
                s.push_str(choose(rng, DRIFT_PHRASES));
            }
            let tail = choose(
                rng,
                &["", "", "", " pls", "!!", "?", "!", " asap", " again"],
            );
            if !s.ends_with("again") {
                s.push_str(tail);
            }
        } else {
            full_message(rng, s, sub, slots, drift_wording);
        }
        finish(rng, s, out);
    }
}

fn full_message<R: Rng>(
    rng: &mut R,
    s: &mut String,
    sub: usize,
    slots: &Slots<'_>,
    drift_wording: f64,
) {
    let spec = &SUBS[sub];
    if rng.random_bool(0.4) {
        s.push_str(choose(rng, OPENERS));
        s.push_str(choose(rng, &[", ", ". ", "! ", " - ", "\n", " "]));
    }
    let drift_at = if drift_wording > 0.0 && rng.random_bool(drift_wording) {
        if rng.random_bool(0.5) { 1 } else { 2 }
    } else {
        0
    };
    if drift_at == 1 {
        s.push_str(choose(rng, DRIFT_PHRASES));
        s.push_str(", ");
    }
    // Sometimes the customer only names the area, leaving the detail to say what happened.
    let generic = rng.random_bool(GENERIC_RATE);
    let bank = if generic {
        GENERIC_ISSUES[spec.category]
    } else {
        spec.issues
    };
    fill_one(rng, s, bank, slots);
    if drift_at == 2 {
        s.push(' ');
        s.push_str(choose(rng, DRIFT_PHRASES));
    }
    if rng.random_bool(if generic { 0.6 } else { 0.4 }) {
        let n = spec.details.len();
        let first = rng.random_range(0..n);
        sentence_break(s);
        fill(rng, s, spec.details[first], slots);
        if rng.random_bool(0.2) && n > 1 {
            // A second, different detail.
            let k = (first + 1 + rng.random_range(0..n - 1)) % n;
            sentence_break(s);
            fill(rng, s, spec.details[k], slots);
        }
    }
    if rng.random_bool(0.08) {
        // A second issue: usually related (same category), sometimes unrelated.
        let other = if rng.random_bool(0.7) {
            let same: usize = SUBS.iter().filter(|o| o.category == spec.category).count();
            let first = SUBS
                .iter()
                .position(|o| o.category == spec.category)
                .unwrap_or(0);
            first + rng.random_range(0..same)
        } else {
            rng.random_range(0..SUBS.len())
        };
        sentence_break(s);
        s.push_str(choose(rng, CONNECTORS));
        s.push(' ');
        fill_one(rng, s, SUBS[other].issues, slots);
    }
    if rng.random_bool(0.45) {
        sentence_break(s);
        let bank = if rng.random_bool(0.7) {
            REQUESTS[spec.category]
        } else {
            GENERIC_REQUESTS
        };
        s.push_str(choose(rng, bank));
    }
    let end = choose(rng, &[".", ".", ".", ".", "", "", "", "!", "!", "!!", "?"]);
    if !s.ends_with(['?', '!', '.']) {
        s.push_str(end);
    }
}

/// Ends the current sentence: `". "`, or just a space after `?`, `!` or `.`.
fn sentence_break(s: &mut String) {
    if s.ends_with(['?', '!', '.']) {
        s.push(' ');
    } else {
        s.push_str(". ");
    }
}

/// Appends one template of `bank`, slots filled.
fn fill_one<R: Rng>(rng: &mut R, s: &mut String, bank: &[&str], slots: &Slots<'_>) {
    let template = choose(rng, bank);
    fill(rng, s, template, slots);
}

/// Appends `template` with its slots filled.
fn fill<R: Rng>(rng: &mut R, s: &mut String, template: &str, slots: &Slots<'_>) {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        s.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            s.push_str(&rest[open..]);
            return;
        };
        match &after[..close] {
            "amt" => amount(rng, s, slots.currency, slots.amount),
            "amt2" => amount(rng, s, slots.currency, slots.expected),
            "drv" => s.push_str(slots.driver),
            "rest" => s.push_str(slots.restaurant),
            "item" => s.push_str(choose(rng, ITEMS)),
            "place" => s.push_str(choose(rng, PLACES)),
            "time" => s.push_str(choose(rng, TIMES)),
            "card" => s.push_str(choose(rng, CARDS)),
            "promo" => s.push_str(choose(rng, PROMOS)),
            "mins" => {
                let _ = write!(s, "{}", rng.random_range(25..95));
            }
            "n" => {
                let _ = write!(s, "{}", rng.random_range(2..6));
            }
            other => {
                s.push('{');
                s.push_str(other);
                s.push('}');
            }
        }
        rest = &after[close + 1..];
    }
    s.push_str(rest);
}

fn amount<R: Rng>(rng: &mut R, s: &mut String, currency: &str, x: f64) {
    s.push_str(currency);
    if rng.random_bool(0.3) {
        let _ = write!(s, "{x:.0}");
    } else {
        let _ = write!(s, "{x:.2}");
    }
}

/// Copies `src` into `out` with casing noise and typos.
fn finish<R: Rng>(rng: &mut R, src: &str, out: &mut String) {
    out.clear();
    let style: f64 = rng.random();
    // 0: sentence case, 1: as written, 2: all lower case, 3: all caps.
    let style = if style < 0.5 {
        0
    } else if style < 0.88 {
        1
    } else if style < 0.96 {
        2
    } else {
        3
    };
    let typos = rng.random_bool(TYPO_MESSAGE_RATE);
    if style == 1 && !typos {
        out.push_str(src);
        return;
    }
    let mut sentence_start = true;
    let mut word = [0u8; 64];
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        if bytes[i].is_ascii_alphabetic() {
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            // Words followed by a non-ASCII letter (e.g. "tr" of "très") get no typo.
            let ascii_word = i >= bytes.len() || bytes[i].is_ascii();
            let n = (i - start).min(word.len());
            word[..n].copy_from_slice(&bytes[start..start + n]);
            let mut len = n;
            if typos && ascii_word && n >= 4 && rng.random_bool(TYPO_WORD_RATE) {
                len = typo(rng, &mut word, n);
            }
            match style {
                0 if sentence_start => word[0] = word[0].to_ascii_uppercase(),
                2 => word[..len].make_ascii_lowercase(),
                3 => word[..len].make_ascii_uppercase(),
                _ => {}
            }
            out.push_str(std::str::from_utf8(&word[..len]).unwrap_or_default());
            sentence_start = false;
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            // `i` is at an ASCII byte or the end: a character boundary.
            let seg = &src[start..i];
            for ch in seg.chars() {
                if matches!(ch, '.' | '!' | '?' | '\n') {
                    sentence_start = true;
                } else if !ch.is_whitespace() {
                    sentence_start = false;
                }
            }
            match style {
                2 => out.extend(seg.chars().flat_map(char::to_lowercase)),
                3 => out.extend(seg.chars().flat_map(char::to_uppercase)),
                _ => out.push_str(seg),
            }
        }
    }
}

/// Applies one typo to `w[..n]` (ASCII letters, `n >= 4`); returns the new length.
fn typo<R: Rng>(rng: &mut R, w: &mut [u8; 64], n: usize) -> usize {
    let at = rng.random_range(1..n - 1);
    match rng.random_range(0..3) {
        0 => {
            w.swap(at, at + 1);
            n
        }
        1 => {
            w.copy_within(at + 1..n, at);
            n - 1
        }
        _ if n < w.len() => {
            w.copy_within(at..n, at + 1);
            n + 1
        }
        _ => n,
    }
}

/// Replaces `out` with a message followed by a pasted log, `min_len` characters or more.
pub(crate) fn write_oversized<R: Rng>(rng: &mut R, out: &mut String, min_len: usize) {
    let msg = out.clone();
    out.clear();
    out.push_str(&msg);
    out.push_str("\n\n---- pasted from the app ----\n");
    let mut line = 0u32;
    while out.len() < min_len {
        let _ = writeln!(
            out,
            "{:05} E/PaymentActivity: request failed code={} trace=0x{:016x} retry={}",
            line,
            rng.random_range(400..600),
            rng.random::<u64>(),
            line % 7
        );
        line += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn slots() -> Slots<'static> {
        Slots {
            currency: "$",
            amount: 23.5,
            expected: 12.0,
            driver: "Maria",
            restaurant: "Sushi Zen",
        }
    }

    #[test]
    fn fills_slots() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut s = String::new();
        fill(
            &mut rng,
            &mut s,
            "paid {amt} not {amt2} to {drv} at {rest}",
            &slots(),
        );
        assert!(s.starts_with("paid $23"), "{s}");
        assert!(
            s.contains("Maria") && s.contains("Sushi Zen") && !s.contains('{'),
            "{s}"
        );
    }

    #[test]
    fn messages_are_varied_and_clean() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut r = Realiser::default();
        let mut out = String::new();
        let mut seen = std::collections::HashSet::new();
        for i in 0..2000 {
            r.write(
                &mut rng,
                &mut out,
                i % SUBS.len(),
                i % 4,
                &slots(),
                if i % 3 == 0 { 0.75 } else { 0.0 },
            );
            assert!(!out.contains('{'), "{out}");
            assert!(!out.trim().is_empty());
            seen.insert(out.clone());
        }
        assert!(seen.len() > 1500, "{}", seen.len());
    }

    #[test]
    fn typos_keep_utf8_valid() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut out = String::new();
        for _ in 0..500 {
            finish(
                &mut rng,
                "l'application plante tout le temps, très énervé café",
                &mut out,
            );
            assert!(out.len() > 20);
        }
    }

    #[test]
    fn oversized_is_long() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut out = String::from("app keeps crashing");
        write_oversized(&mut rng, &mut out, 10_001);
        assert!(out.len() > 10_000);
        assert!(out.starts_with("app keeps crashing"));
    }
}
