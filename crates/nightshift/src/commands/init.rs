//! `nightshift init DIR`.

use std::path::{Path, PathBuf};

use crate::cli::{GlobalArgs, InitArgs};
use crate::failure::Failure;
use crate::scaffold;

#[allow(clippy::print_stdout)]
pub(crate) fn init(global: &GlobalArgs, args: &InitArgs) -> Result<(), Failure> {
    let dir = &args.dir;
    if global.project != std::path::Path::new(".") {
        tracing::warn!(
            "init makes the project in {} (its DIR); --project (or NIGHTSHIFT_PROJECT) {} is not used",
            dir.display(),
            global.project.display()
        );
    }
    let (project_file, sql_file) = create_project(dir)?;
    if global.json {
        return crate::commands::print_json(&serde_json::json!({
            "ok": true,
            "project": dir,
            "files": [project_file, sql_file],
        }));
    }
    outln!("created {}", project_file.display());
    outln!("created {}", sql_file.display());
    let d = dir.display();
    outln!();
    outln!("next:");
    outln!(
        "  nightshift --project {d} generate --days 6 --rows-per-day 20000 --end-date 2026-11-20"
    );
    outln!("  nightshift --project {d} run root_cause --date 2026-11-22 --only features");
    outln!(
        "  nightshift --project {d} sql \"SELECT ds, count(*) FROM intermediate.root_cause_features GROUP BY ds\""
    );
    Ok(())
}

/// Writes the scaffold into `dir` (refusing to overwrite a project) and checks it compiles.
/// Returns the project file and the SQL file.
pub(crate) fn create_project(dir: &Path) -> Result<(PathBuf, PathBuf), Failure> {
    if dir.exists() && !dir.is_dir() {
        return Err(Failure::usage(
            format!("{} exists and is not a directory", dir.display()),
            Some("give a new directory's path, or an existing directory".into()),
        ));
    }
    let project_file = dir.join(nightshift_core::PROJECT_FILE);
    if project_file.exists() {
        return Err(Failure::usage(
            format!("{} already exists", project_file.display()),
            Some("choose another directory; init never overwrites a project".into()),
        ));
    }
    let sql_file = dir.join("sql").join("root_cause_features.sql");
    // The project is named after its directory (TOML-safe characters only).
    let name: String = std::path::absolute(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .collect();
    let toml = if name.is_empty() {
        scaffold::PROJECT_TOML.to_string()
    } else {
        scaffold::PROJECT_TOML.replacen("name = \"support\"", &format!("name = \"{name}\""), 1)
    };
    write(&project_file, &toml)?;
    if !sql_file.exists() {
        write(&sql_file, scaffold::FEATURES_SQL)?;
    }
    let gitignore = dir.join(".gitignore");
    if !gitignore.exists() {
        write(&gitignore, scaffold::GITIGNORE)?;
    }
    // What we wrote must compile: a scaffold that fails validation is a bug.
    nightshift_core::load_project(dir)?;
    Ok((project_file, sql_file))
}

fn write(path: &Path, text: &str) -> Result<(), Failure> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            Failure::work(anyhow::anyhow!("cannot create {}: {e}", parent.display()))
        })?;
    }
    std::fs::write(path, text)
        .map_err(|e| Failure::work(anyhow::anyhow!("cannot write {}: {e}", path.display())))
}
