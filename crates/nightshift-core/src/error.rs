//! The crate's single error type.

use crate::config::ConfigErrors;

/// Everything that can go wrong in `nightshift-core` outside the project file
/// (whose problems are collected as [`ConfigErrors`], which converts into this type).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A duration such as `2d` or `1h30m` could not be parsed.
    #[error("invalid duration `{input}`: {reason}; {hint} (units: w = weeks, d = days, h = hours, m = minutes, s = seconds; combine them largest first, e.g. 1h30m)", hint = crate::duration::DURATION_HINT)]
    InvalidDuration {
        /// The text as written.
        input: String,
        /// What is wrong with it (the accepted units are added when displayed).
        reason: String,
    },

    /// A schedule such as `daily at 06:00` or `0 6 * * *` could not be parsed.
    #[error("invalid schedule `{input}`: {reason}; {hint}", hint = crate::schedule::SCHEDULE_HINT)]
    InvalidSchedule {
        /// The text as written.
        input: String,
        /// What is wrong with it (the accepted forms are added when displayed).
        reason: String,
    },

    /// A timezone other than `UTC` or a fixed offset like `+02:00`.
    #[error("invalid timezone `{input}`: only `UTC` and fixed offsets like `+02:00` are supported")]
    InvalidTimezone {
        /// The text as written.
        input: String,
    },

    /// A logical date given on the command line could not be parsed.
    #[error(
        "invalid logical date `{input}`: expected a date like 2026-11-22 or an RFC 3339 timestamp like 2026-11-22T06:00:00Z"
    )]
    InvalidLogicalDate {
        /// The text as written.
        input: String,
    },

    /// A logical date written as a date that the calendar does not have (`2026-02-30`).
    #[error("invalid logical date `{input}`: the calendar has no such day")]
    NoSuchDay {
        /// The text as written.
        input: String,
    },

    /// A logical date outside the years Nightshift handles (see [`crate::parse_logical_date`]).
    #[error(
        "logical date `{input}` is out of range: dates from 1900-01-01 to 2199-12-31 are supported"
    )]
    LogicalDateOutOfRange {
        /// The text as written.
        input: String,
    },

    /// A `{{ name }}` in SQL names a variable that does not exist.
    #[error("unknown template variable `{name}` at byte {offset}; valid variables: {valid}", valid = crate::template::TEMPLATE_VARIABLES.join(", "))]
    UnknownTemplateVariable {
        /// The variable name as written (trimmed).
        name: String,
        /// Byte offset of the opening `{{`.
        offset: usize,
    },

    /// A `{{` without a matching `}}`.
    #[error("unclosed `{{{{` at byte {offset}: expected `}}}}`")]
    UnclosedTemplate {
        /// Byte offset of the opening `{{`.
        offset: usize,
    },

    /// A `{{ ... }}` whose content is not a variable name.
    #[error(
        "invalid template expression `{{{{{text}}}}}` at byte {offset}: expected a variable name"
    )]
    InvalidTemplateExpression {
        /// The text between the braces.
        text: String,
        /// Byte offset of the opening `{{`.
        offset: usize,
    },

    /// The project file has one or more problems.
    #[error(transparent)]
    Config(#[from] ConfigErrors),
}
