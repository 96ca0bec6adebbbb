//! One module per command; [`dispatch`] routes the parsed command line.

mod demo;
mod generate;
mod init;
mod models;
mod run;
mod runs;
mod scheduler;
mod sql;
mod vacuum;

use std::path::Path;

use nightshift_core::Project;

use crate::cli::{Cli, Command};
use crate::failure::Failure;

/// Runs the command.
pub(crate) async fn dispatch(cli: Cli) -> Result<(), Failure> {
    let global = &cli.global;
    match &cli.command {
        Command::Init(args) => init::init(global, args),
        Command::Generate(args) => generate::generate(global, args).await,
        Command::Run(args) => run::run(global, args).await,
        Command::Sql(args) => sql::sql(global, args).await,
        Command::Models(command) => models::models(global, command).await,
        Command::Runs(command) => runs::runs(global, command).await,
        Command::Scheduler(args) => scheduler::scheduler(global, args).await,
        Command::Demo(args) => demo::demo(global, args).await,
        Command::Vacuum(args) => vacuum::vacuum(global, args).await,
    }
}

/// Loads and validates the project; every configuration error is reported at once (exit 2).
/// Without `--project` or `NIGHTSHIFT_PROJECT`, the project is the current directory or the
/// nearest one above it holding a `nightshift.toml` (as git and cargo find theirs), so that
/// commands work from its `sql/` or `models/` too.
pub(crate) fn load_project(dir: &Path) -> Result<Project, Failure> {
    let file = nightshift_core::PROJECT_FILE;
    let given = crate::failure::project_given() || std::env::var_os("NIGHTSHIFT_PROJECT").is_some();
    let found = if dir.join(file).is_file() {
        Some(dir.to_path_buf())
    } else if !given && dir == Path::new(".") {
        std::env::current_dir().ok().and_then(|cwd| {
            cwd.ancestors()
                .find(|d| d.join(file).is_file())
                .map(Path::to_path_buf)
        })
    } else {
        None
    };
    let Some(dir) = found else {
        let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        return Err(Failure::usage(
            format!(
                "no {file} in {}{}",
                shown.display(),
                if given { "" } else { " or a directory above it" }
            ),
            Some("run inside a project, pass --project DIR (or set NIGHTSHIFT_PROJECT), or create one with `nightshift init DIR`".into()),
        ));
    };
    if dir != Path::new(".") && !given {
        tracing::debug!("using the project in {}", dir.display());
    }
    Ok(nightshift_core::load_project(&dir)?)
}

/// Resolves a pipeline's `model` reference (once per run) and loads that version.
pub(crate) fn resolve_pipeline_model(
    project: &Project,
    pipeline: &nightshift_core::PipelineSpec,
) -> Result<nightshift_pipeline::LoadedModel, Failure> {
    use std::str::FromStr;
    let Some(reference) = &pipeline.model else {
        return Err(Failure::usage(
            format!("pipeline `{}` has no model", pipeline.name),
            Some("set `model = \"name@production\"` in its [pipelines] section".into()),
        ));
    };
    let reference = nightshift_registry::ModelRef::from_str(reference).map_err(|e| {
        let hint = e.hint();
        Failure::usage(format!("{} (pipeline `{}`)", e, pipeline.name), hint)
    })?;
    let registry = nightshift_pipeline::model::open_registry(project)?;
    let model = nightshift_pipeline::model::load_model(&registry, &reference).map_err(|e| {
        let mut failure = Failure::from(e);
        if let Some(hint) = failure.hint.take() {
            failure.hint = Some(format!(
                "{hint}; or run only the tasks before the model: --only check,features"
            ));
        }
        failure
    })?;
    // A gate the model cannot pass fails every publish: said before the run spends its time.
    let labels = model.classifier.n_classes();
    if let Some(min) = pipeline.gates.min_distinct_labels
        && usize::try_from(min).map_or(true, |min| min > labels)
    {
        tracing::warn!(
            "min_distinct_labels = {min} in [pipelines.{}] is more than the {labels} labels \
             {}@{} knows: its publish will fail the gate (lower it to {labels} or fewer in {})",
            pipeline.name,
            model.name(),
            model.version.version,
            project.file.display()
        );
    }
    Ok(model)
}

/// The failure of planning a query given on the command line (`sql`, `--sql`): one that
/// does not parse or plan (a typo, an unknown table or column) is a mistake in the command
/// line, exit code 2 as for any usage error; a damaged table stays a failure (1).
pub(crate) fn query_failure(e: nightshift_lake::Error) -> Failure {
    use nightshift_lake::Error as E;
    let usage = matches!(
        e,
        E::Sql { .. } | E::NotAQuery { .. } | E::TableNotFound { .. } | E::BadTableName(_)
    );
    Failure::from(e).usage_if(usage)
}

/// Opens the project's run history (`.nightshift/runs.db`).
pub(crate) fn open_run_store(project: &Project) -> Result<nightshift_runs::RunStore, Failure> {
    let dir = project.root.join(".nightshift");
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::work(anyhow::anyhow!("cannot create {}: {e}", dir.display())))?;
    nightshift_runs::RunStore::open(&dir.join("runs.db")).map_err(|e| {
        let hint = e.hint();
        Failure {
            code: 1,
            error: anyhow::Error::new(e),
            hint,
            json_printed: false,
        }
    })
}

/// Prints a serializable document as JSON on stdout.
#[allow(clippy::print_stdout)]
pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::work(e.into()))?;
    outln!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    /// The project file's check of a pipeline's `model` and the registry's parser agree on
    /// what is a model reference (the first runs before the registry is opened).
    #[test]
    fn the_config_check_and_the_registry_agree_on_model_references() {
        for reference in [
            "root_cause",
            "root_cause@production",
            "root_cause@3",
            "root_cause@latest",
            "_m-1@a_b-c",
            "root cause@prod",
            "Root_Cause",
            "root_cause@0",
            "root_cause@00",
            "root_cause@Prod",
            "9lives",
            "m@",
            "@3",
            "a@b@c",
            "",
            "m@x y",
        ] {
            let config = nightshift_core::model_ref_problem(reference).is_none();
            let registry = nightshift_registry::ModelRef::from_str(reference).is_ok();
            assert_eq!(config, registry, "{reference:?}");
        }
    }
}
