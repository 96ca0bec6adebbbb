//! The project file, `nightshift.toml`: its schema, its compilation into a
//! validated [`Project`], and the [`Diagnostic`]s reported when it is wrong.
//!
//! Every problem is reported at once, each with file, line, column and usually
//! a hint; problems in a pipeline's features SQL are reported in that file.

mod compile;
mod diagnostic;
mod project;
mod schema;

use std::path::Path;

pub use compile::model_ref_problem;
pub use diagnostic::{ConfigErrors, Diagnostic};
pub use project::{AlertSink, EngineSpec, Gates, PipelineSpec, Project, TableSpec};

/// Name of the project file in a project's root directory.
pub const PROJECT_FILE: &str = "nightshift.toml";

/// Reads `dir/nightshift.toml` and compiles it into a [`Project`] rooted at `dir`.
pub fn load_project(dir: &Path) -> Result<Project, ConfigErrors> {
    let file = compile::tidy(dir.join(PROJECT_FILE));
    match std::fs::read(&file).map(String::from_utf8) {
        Ok(Ok(text)) => compile_project(&file, &text, dir),
        Ok(Err(e)) => {
            // Where the first byte that is not UTF-8 is, so it can be found and fixed.
            let bytes = e.as_bytes();
            let at = e.utf8_error().valid_up_to();
            let valid = String::from_utf8_lossy(&bytes[..at]);
            let (line, column) = diagnostic::line_column(&valid, valid.len());
            Err(ConfigErrors {
                file: file.clone(),
                diagnostics: vec![Diagnostic {
                    file: file.clone(),
                    line,
                    column,
                    message: format!("byte {:#04x} is not UTF-8 text", bytes[at]),
                    hint: Some(
                        "save the file as UTF-8 (Latin-1 or Windows-1252 editors write such bytes for accented letters)"
                            .into(),
                    ),
                }],
            })
        }
        Err(e) => {
            let hint = (e.kind() == std::io::ErrorKind::NotFound).then(|| {
                "run `nightshift init` to create a project, or run from the project's directory"
                    .to_string()
            });
            Err(ConfigErrors {
                file: file.clone(),
                diagnostics: vec![Diagnostic {
                    file: file.clone(),
                    line: 0,
                    column: 0,
                    message: format!("cannot read {}: {e}", file.display()),
                    hint,
                }],
            })
        }
    }
}

/// Compiles the text of a project file into a [`Project`], validating everything.
///
/// `file` is used in diagnostics and stored in [`Project::file`]; relative paths
/// in the file (warehouse, features SQL) are resolved against `root`, and SQL
/// files are read from disk.
pub fn compile_project(file: &Path, text: &str, root: &Path) -> Result<Project, ConfigErrors> {
    compile::compile(file, text, root)
}
