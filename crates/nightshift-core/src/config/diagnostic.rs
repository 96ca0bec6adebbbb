//! Problems found in a project file, with file, line and column.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in the project file (or in a SQL file it points to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line; 0 when the problem concerns the whole file (e.g. it cannot be read).
    pub line: usize,
    /// 1-based column in characters; 0 together with `line == 0`.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at byte `offset` of `text`, the contents of `file`.
    pub fn at_offset(
        file: &Path,
        text: &str,
        offset: usize,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Diagnostic {
        let (line, column) = line_column(text, offset);
        Diagnostic {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
            hint,
        }
    }
}

/// Renders as `error: FILE:LINE:COL: MESSAGE` followed by an indented `hint:` line if any.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "error: {}: {}", self.file.display(), self.message)?;
        } else {
            write!(
                f,
                "error: {}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in a project file; never empty when returned as an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The project file that was checked (named in the summary line).
    pub file: PathBuf,
    /// The problems, in file order (project file first, then SQL files).
    pub diagnostics: Vec<Diagnostic>,
}

/// One block per diagnostic, then a summary line such as `3 errors in nightshift.toml`.
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{d}")?;
        }
        let n = self.diagnostics.len();
        // Named by the files they are in: the project file, its SQL files, or both.
        let mut files: Vec<&PathBuf> = Vec::new();
        for d in &self.diagnostics {
            if !files.contains(&&d.file) {
                files.push(&d.file);
            }
        }
        if files.is_empty() {
            files.push(&self.file);
        }
        let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        write!(
            f,
            "{n} {} in {}",
            if n == 1 { "error" } else { "errors" },
            files.join(" and ")
        )
    }
}

impl std::error::Error for ConfigErrors {}

/// 1-based line and character column of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The candidate closest to `word`, if any is close enough to be a likely typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// "did you mean `x`?" for a close candidate, else "{what}: a, b, c".
pub(crate) fn suggestion<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
    what: &str,
) -> String {
    match closest(word, candidates.clone()) {
        Some(c) => format!("did you mean `{c}`?"),
        None => {
            let list: Vec<String> = candidates.into_iter().map(|c| format!("`{c}`")).collect();
            if list.is_empty() {
                format!("no {what} are defined")
            } else {
                format!("{what}: {}", list.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let text = "ab\ncdé\nf";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 2), (1, 3));
        assert_eq!(line_column(text, 3), (2, 1));
        assert_eq!(line_column(text, 7), (2, 4)); // after the two-byte é
        assert_eq!(line_column(text, 8), (3, 1));
        assert_eq!(line_column(text, 100), (3, 2));
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            closest("windwo", ["window", "reads", "schedule"]),
            Some("window")
        );
        assert_eq!(closest("trip", ["orders", "trips"]), Some("trips"));
        assert_eq!(closest("zzz", ["orders", "trips"]), None);
        assert_eq!(
            suggestion("zzz", ["a", "b"], "valid keys"),
            "valid keys: `a`, `b`"
        );
        assert_eq!(suggestion("zzz", [], "tables"), "no tables are defined");
    }

    #[test]
    fn display_blocks_and_summary() {
        let errors = ConfigErrors {
            file: PathBuf::from("nightshift.toml"),
            diagnostics: vec![
                Diagnostic {
                    file: PathBuf::from("nightshift.toml"),
                    line: 12,
                    column: 9,
                    message: "unknown key `windwo` in [pipelines.root_cause]".into(),
                    hint: Some("did you mean `window`?".into()),
                },
                Diagnostic {
                    file: PathBuf::from("nightshift.toml"),
                    line: 0,
                    column: 0,
                    message: "cannot read".into(),
                    hint: None,
                },
            ],
        };
        assert_eq!(
            errors.to_string(),
            "error: nightshift.toml:12:9: unknown key `windwo` in [pipelines.root_cause]\n  \
             hint: did you mean `window`?\nerror: nightshift.toml: cannot read\n\
             2 errors in nightshift.toml"
        );
    }
}
