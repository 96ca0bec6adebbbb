//! The registry: a SQLite index (`.nightshift/registry.db`) of the immutable bundles under
//! `models/<name>/<version>/`, with aliases, their history, and metrics recorded later.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::bundle::{Bundle, sha256_hex};
use crate::error::{Error, Result};
use crate::manifest::{
    FORMAT_VERSION, FileEntry, InputSchema, MANIFEST_FILE, Manifest, TrainingData,
    validate_file_name,
};
use crate::model_ref::{ModelRef, Selector, validate_alias, validate_model_name};
use crate::schema;
use crate::staging::{self, STAGING_DIR, Staging};

/// How long an operation waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Columns read into a [`ModelVersion`], in [`VersionRow`] order.
const VERSION_COLUMNS: &str = "name, version, created_at, kind, training_rows, fingerprint, code_version, manifest_sha256, metrics";

/// What a trainer hands to [`Registry::register`]: the manifest minus what the registry
/// assigns (version, creation time, file checksums).
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewModel {
    /// The model's name, `[a-z_][a-z0-9_-]*`.
    pub name: String,
    /// What reads the weights, e.g. `nightshift-text-linear` or `onnx`.
    pub kind: String,
    /// The labels the model predicts, in output order.
    pub labels: Vec<String>,
    /// Parent label of each label, for hierarchical models.
    pub parents: Option<Vec<String>>,
    /// Training settings.
    pub hyperparameters: serde_json::Value,
    /// The data the model was trained on.
    pub training_data: TrainingData,
    /// Training report and evaluation metrics.
    pub metrics: serde_json::Value,
    /// The columns the model reads.
    pub input_schema: InputSchema,
    /// The Nightshift version training it (`env!("CARGO_PKG_VERSION")` of the caller).
    pub code_version: String,
}

/// One registered version, as the index records it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelVersion {
    /// The model's name.
    pub name: String,
    /// The version number.
    pub version: u32,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// Its bundle directory, `<models_dir>/<name>/<version>`.
    pub dir: PathBuf,
    /// What reads the weights (from the manifest).
    pub kind: String,
    /// The manifest's metrics with any recorded later by [`Registry::update_metrics`]
    /// (a non-object manifest value is kept under `"training"`).
    pub metrics: serde_json::Value,
    /// Number of training rows.
    pub training_rows: u64,
    /// Fingerprint of the training data.
    pub fingerprint: String,
    /// The Nightshift version that trained it.
    pub code_version: String,
    /// SHA-256 of its `manifest.json`; [`Registry::open_bundle`] checks the bundle against it.
    pub manifest_sha256: String,
}

/// One model in [`Registry::list`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelSummary {
    /// The model's name.
    pub name: String,
    /// Its highest version.
    pub latest: ModelVersion,
    /// How many versions it has.
    pub versions: u32,
    /// Its aliases and the versions they point at.
    pub aliases: BTreeMap<String, u32>,
}

/// An alias to point at a version: [`Registry::set_alias`], or with
/// [`Registry::register_with_alias`] the new version.
#[derive(Debug, Clone, Copy)]
pub struct AliasRequest<'a> {
    /// The alias, e.g. `production`.
    pub alias: &'a str,
    /// Who moves it.
    pub actor: &'a str,
    /// Why, if said.
    pub reason: Option<&'a str>,
}

/// Points `request.alias` of `name` at `version` inside `tx` (not committed), recording the
/// move; nothing when it already points there (`changed: false`).
fn move_alias(
    tx: &Transaction<'_>,
    db_path: &Path,
    name: &str,
    version: u32,
    request: AliasRequest<'_>,
    now: DateTime<Utc>,
) -> Result<AliasMove> {
    let sql = |action: &'static str| sql_err(db_path, action);
    let AliasRequest {
        alias,
        actor,
        reason,
    } = request;
    let from_version = alias_version(tx, db_path, name, alias)?;
    let moved = AliasMove {
        name: name.to_string(),
        alias: alias.to_string(),
        from_version,
        to_version: Some(version),
        at: now,
        actor: actor.to_string(),
        reason: reason.map(str::to_string),
        changed: from_version != Some(version),
    };
    if !moved.changed {
        return Ok(moved);
    }
    let at = timestamp(now);
    tx.execute(
        "INSERT INTO aliases (name, alias, version, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
        params![name, alias, version, at],
    )
    .map_err(sql("write alias"))?;
    tx.execute(
        "INSERT INTO alias_history (name, alias, from_version, to_version, at, actor, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![name, alias, from_version, version, at, actor, reason],
    )
    .map_err(sql("record alias move"))?;
    Ok(moved)
}

/// An alias move: the result of [`Registry::set_alias`], and one row of [`Registry::alias_history`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AliasMove {
    /// The model.
    pub name: String,
    /// The alias.
    pub alias: String,
    /// Where it pointed before (`None` when it was created).
    pub from_version: Option<u32>,
    /// Where it points now; `None` when it was removed.
    pub to_version: Option<u32>,
    /// When it was moved.
    pub at: DateTime<Utc>,
    /// Who moved it.
    pub actor: String,
    /// Why, if given.
    pub reason: Option<String>,
    /// `false` when the alias already pointed at `to_version`: nothing was changed or
    /// recorded. Always `true` in the history.
    pub changed: bool,
}

/// What [`Registry::open`] repaired.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Recovery {
    /// Leftovers of interrupted registrations removed from the staging area.
    pub staging_removed: usize,
    /// Complete bundles found on disk without an index row (a crash between moving the
    /// bundle into place and committing, or a recreated database), now indexed.
    pub adopted: Vec<ModelVersion>,
    /// Version directories that could not be indexed, with the reason; they are left
    /// alone and their version numbers are not reused.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// The model registry of one project. Cheap to open; one SQLite connection, safe to share
/// between threads; any number of processes may use the same files at once.
#[derive(Debug)]
pub struct Registry {
    conn: Mutex<Connection>,
    db_path: PathBuf,
    models_dir: PathBuf,
    recovery: Recovery,
}

impl Registry {
    /// Opens (creating if needed) the index at `db_path` and the bundles under `models_dir`.
    ///
    /// Brings the schema up to date, removes leftovers of interrupted registrations, and
    /// indexes complete bundles that have no row (see [`Registry::recovery`]).
    pub fn open(db_path: &Path, models_dir: &Path) -> Result<Registry> {
        if let Some(parent) = db_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            staging::create_dir_all(parent)?;
        }
        staging::create_dir_all(models_dir)?;
        let sql = |action: &'static str| sql_err(db_path, action);
        let conn = Connection::open(db_path).map_err(sql("open"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(sql("set busy timeout"))?;
        enable_wal(&conn).map_err(sql("enable WAL"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql("set synchronous"))?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(sql("enable foreign keys"))?;
        schema::migrate(&conn, db_path)?;
        let mut registry = Registry {
            conn: Mutex::new(conn),
            db_path: db_path.to_path_buf(),
            models_dir: models_dir.to_path_buf(),
            recovery: Recovery::default(),
        };
        registry.recovery.staging_removed = staging::clean_stale(models_dir)?;
        registry.adopt_orphans()?;
        Ok(registry)
    }

    /// What [`Registry::open`] repaired.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The index database file.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// The directory holding the bundles.
    pub fn models_dir(&self) -> &Path {
        &self.models_dir
    }

    /// The bundle directory of a version: `<models_dir>/<name>/<version>`.
    pub fn version_dir(&self, name: &str, version: u32) -> PathBuf {
        self.models_dir.join(name).join(version.to_string())
    }

    /// Registers a new version of `new.name` with `files` (e.g. `[("weights.bin", &bytes)]`).
    ///
    /// The files are written into a staging directory inside the models directory and
    /// fsynced; then, inside one SQLite write transaction, the version is allocated
    /// (highest + 1, so concurrent registrations never share a number), `manifest.json` is
    /// written last, the directory is renamed to `<name>/<version>`, and the row inserted.
    /// A crash leaves either no version or a complete bundle, which the next open indexes.
    pub fn register(
        &self,
        new: NewModel,
        files: &[(&str, &[u8])],
        now: DateTime<Utc>,
    ) -> Result<ModelVersion> {
        self.register_with_alias(new, files, now, None)
            .map(|(version, _)| version)
    }

    /// [`Self::register`], pointing `alias` at the new version in the same SQLite
    /// transaction (`models train --alias`): the alias never moves without its version's row.
    /// A crash after the bundle is moved into place and before the transaction leaves the
    /// bundle, which the next open indexes ([`Recovery::adopted`]) without the alias.
    pub fn register_with_alias(
        &self,
        new: NewModel,
        files: &[(&str, &[u8])],
        now: DateTime<Utc>,
        alias: Option<AliasRequest<'_>>,
    ) -> Result<(ModelVersion, Option<AliasMove>)> {
        validate_model_name(&new.name)?;
        if let Some(request) = &alias {
            validate_alias(request.alias)?;
        }
        let mut entries = BTreeMap::new();
        for (file, bytes) in files {
            validate_file_name(file)?;
            let entry = FileEntry {
                bytes: bytes.len() as u64,
                sha256: sha256_hex(bytes),
            };
            if entries.insert((*file).to_string(), entry).is_some() {
                return Err(Error::DuplicateFile {
                    name: (*file).to_string(),
                });
            }
        }

        // The bulk of the writing happens before taking the database's write lock.
        let staging = Staging::create(&self.models_dir, &new.name)?;
        for (file, bytes) in files {
            staging.write_file(file, bytes)?;
        }

        let sql = |action: &'static str| sql_err(&self.db_path, action);
        let conn = self.conn();
        let tx = Transaction::new_unchecked(&conn, TransactionBehavior::Immediate)
            .map_err(sql("start registration"))?;
        let highest: Option<u32> = tx
            .query_row(
                "SELECT MAX(version) FROM model_versions WHERE name = ?1",
                [&new.name],
                |r| r.get(0),
            )
            .map_err(sql("allocate version"))?;
        let mut version = next_version(highest.unwrap_or(0), &self.db_path)?;
        // Skip directories that exist without a row (ones `open` could not index).
        while self.version_dir(&new.name, version).exists() {
            version = next_version(version, &self.db_path)?;
        }

        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            name: new.name,
            version,
            created_at: now,
            kind: new.kind,
            labels: new.labels,
            parents: new.parents,
            hyperparameters: new.hyperparameters,
            training_data: new.training_data,
            metrics: new.metrics,
            input_schema: new.input_schema,
            code_version: new.code_version,
            files: entries,
        };
        let manifest_bytes =
            serde_json::to_vec_pretty(&manifest).map_err(|source| Error::Serialize {
                what: "manifest",
                source,
            })?;
        staging.write_file(MANIFEST_FILE, &manifest_bytes)?;
        let target = self.version_dir(&manifest.name, version);
        staging.publish(&target)?;

        let row = VersionRow::from_manifest(&manifest, sha256_hex(&manifest_bytes));
        let committed = row
            .insert(&tx)
            .map_err(sql("record version"))
            .and_then(|()| {
                alias
                    .map(|a| move_alias(&tx, &self.db_path, &manifest.name, version, a, now))
                    .transpose()
            })
            .and_then(|moved| {
                tx.commit().map_err(sql("commit registration"))?;
                Ok(moved)
            });
        match committed {
            Ok(moved) => Ok((row.into_version(self)?, moved)),
            Err(e) => {
                // Leave no bundle without a row; if removal fails too, the next open indexes it.
                let _ = std::fs::remove_dir_all(&target);
                Err(e)
            }
        }
    }

    /// Resolves a reference to one version: `Latest` is the highest version, an alias its
    /// current version. Unknown names, versions and aliases are errors whose hint lists
    /// what exists.
    pub fn resolve(&self, r: &ModelRef) -> Result<ModelVersion> {
        let conn = self.conn();
        let tx = Transaction::new_unchecked(&conn, TransactionBehavior::Deferred)
            .map_err(sql_err(&self.db_path, "start read"))?;
        let version = match &r.selector {
            Selector::Latest => {
                let latest = self.query_versions(
                    &tx,
                    "WHERE name = ?1 ORDER BY version DESC LIMIT 1",
                    params![r.name],
                )?;
                match latest.into_iter().next() {
                    Some(v) => return Ok(v),
                    None => return Err(self.unknown_model(&tx, &r.name)),
                }
            }
            Selector::Version(v) => *v,
            Selector::Alias(alias) => match alias_version(&tx, &self.db_path, &r.name, alias)? {
                Some(v) => v,
                None => {
                    self.require_model(&tx, &r.name)?;
                    return Err(Error::UnknownAlias {
                        name: r.name.clone(),
                        alias: alias.clone(),
                        available: self.aliases_in(&tx, &r.name)?,
                    });
                }
            },
        };
        self.get_version(&tx, &r.name, version)
    }

    /// Opens and verifies a version's bundle, checking that it is the one the index recorded.
    pub fn open_bundle(&self, v: &ModelVersion) -> Result<Bundle> {
        let bundle = Bundle::open(&v.dir)?;
        check_recorded(v, &bundle)?;
        Ok(bundle)
    }

    /// [`Registry::open_bundle`] plus `decode` of one of its files, read once
    /// ([`Bundle::open_decoding`]).
    pub fn open_bundle_decoding<T>(
        &self,
        v: &ModelVersion,
        name: &str,
        decode: impl FnOnce(&[u8]) -> T,
    ) -> Result<(Bundle, T)> {
        let (bundle, decoded) = Bundle::open_decoding(&v.dir, name, decode)?;
        check_recorded(v, &bundle)?;
        Ok((bundle, decoded))
    }

    /// Every model: its latest version, how many versions it has, and its aliases; by name.
    pub fn list(&self) -> Result<Vec<ModelSummary>> {
        let conn = self.conn();
        let tx = Transaction::new_unchecked(&conn, TransactionBehavior::Deferred)
            .map_err(sql_err(&self.db_path, "start read"))?;
        let latest = self.query_versions(
            &tx,
            "WHERE (name, version) IN (SELECT name, MAX(version) FROM model_versions GROUP BY name) ORDER BY name",
            [],
        )?;
        let counts: BTreeMap<String, u32> = self.query_pairs(
            &tx,
            "SELECT name, COUNT(*) FROM model_versions GROUP BY name",
            [],
        )?;
        let mut aliases: BTreeMap<String, BTreeMap<String, u32>> = BTreeMap::new();
        for (name, alias, version) in
            self.query_triples(&tx, "SELECT name, alias, version FROM aliases")?
        {
            aliases.entry(name).or_default().insert(alias, version);
        }
        Ok(latest
            .into_iter()
            .map(|latest| ModelSummary {
                versions: counts.get(&latest.name).copied().unwrap_or(0),
                aliases: aliases.remove(&latest.name).unwrap_or_default(),
                name: latest.name.clone(),
                latest,
            })
            .collect())
    }

    /// All versions of a model, oldest first.
    pub fn versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        let conn = self.conn();
        let versions =
            self.query_versions(&conn, "WHERE name = ?1 ORDER BY version", params![name])?;
        if versions.is_empty() {
            return Err(self.unknown_model(&conn, name));
        }
        Ok(versions)
    }

    /// Points `alias` of `name` at `version`, recording the move in the alias history.
    ///
    /// Setting an alias to the version it already points at changes and records nothing;
    /// the result then has `changed: false`. `latest` and numbers are reserved.
    pub fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: u32,
        actor: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<AliasMove> {
        validate_alias(alias)?;
        let sql = |action: &'static str| sql_err(&self.db_path, action);
        let conn = self.conn();
        let tx = Transaction::new_unchecked(&conn, TransactionBehavior::Immediate)
            .map_err(sql("start alias update"))?;
        self.get_version(&tx, name, version)?;
        let request = AliasRequest {
            alias,
            actor,
            reason,
        };
        let moved = move_alias(&tx, &self.db_path, name, version, request, now)?;
        if moved.changed {
            tx.commit().map_err(sql("commit alias update"))?;
        }
        Ok(moved)
    }

    /// Removes `alias` of `name`, recording it in the alias history (its `to_version` is
    /// `None`): `name@alias` then resolves to nothing, as before it was set. An alias that
    /// does not exist is [`Error::UnknownAlias`].
    pub fn remove_alias(
        &self,
        name: &str,
        alias: &str,
        actor: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<AliasMove> {
        let sql = |action: &'static str| sql_err(&self.db_path, action);
        let conn = self.conn();
        let tx = Transaction::new_unchecked(&conn, TransactionBehavior::Immediate)
            .map_err(sql("start alias removal"))?;
        self.require_model(&tx, name)?;
        let from_version = alias_version(&tx, &self.db_path, name, alias)?;
        let Some(from) = from_version else {
            return Err(Error::UnknownAlias {
                name: name.to_string(),
                alias: alias.to_string(),
                available: self.aliases_in(&tx, name)?,
            });
        };
        tx.execute(
            "DELETE FROM aliases WHERE name = ?1 AND alias = ?2",
            params![name, alias],
        )
        .map_err(sql("remove alias"))?;
        tx.execute(
            "INSERT INTO alias_history (name, alias, from_version, to_version, at, actor, reason)
             VALUES (?1, ?2, ?3, NULL, ?4, ?5, ?6)",
            params![name, alias, from, timestamp(now), actor, reason],
        )
        .map_err(sql("record alias removal"))?;
        tx.commit().map_err(sql("commit alias removal"))?;
        Ok(AliasMove {
            name: name.to_string(),
            alias: alias.to_string(),
            from_version,
            to_version: None,
            at: now,
            actor: actor.to_string(),
            reason: reason.map(str::to_string),
            changed: true,
        })
    }

    /// Every recorded alias move of a model, oldest first.
    pub fn alias_history(&self, name: &str) -> Result<Vec<AliasMove>> {
        let conn = self.conn();
        self.require_model(&conn, name)?;
        let mut stmt = conn
            .prepare(
                "SELECT alias, from_version, to_version, at, actor, reason FROM alias_history
                 WHERE name = ?1 ORDER BY id",
            )
            .map_err(sql_err(&self.db_path, "read alias history"))?;
        let rows = stmt
            .query_map([name], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<u32>>(1)?,
                    r.get::<_, Option<u32>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })
            .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
            .map_err(sql_err(&self.db_path, "read alias history"))?;
        rows.into_iter()
            .map(|(alias, from_version, to_version, at, actor, reason)| {
                Ok(AliasMove {
                    name: name.to_string(),
                    alias,
                    from_version,
                    to_version,
                    at: self.parse_time(&at)?,
                    actor,
                    reason,
                    changed: true,
                })
            })
            .collect()
    }

    /// A model's aliases and the versions they point at.
    pub fn aliases(&self, name: &str) -> Result<BTreeMap<String, u32>> {
        let conn = self.conn();
        self.require_model(&conn, name)?;
        self.aliases_in(&conn, name)
    }

    /// Records a metric for a version after training, e.g. evaluation results. Stored in the
    /// index (the bundle is immutable) and merged into [`ModelVersion::metrics`] under `key`;
    /// every update is kept in `metric_updates` with its time.
    pub fn update_metrics(
        &self,
        name: &str,
        version: u32,
        key: &str,
        value: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if key.trim().is_empty() {
            return Err(Error::InvalidMetricsKey {
                key: key.to_string(),
                reason: "it is empty".into(),
            });
        }
        let sql = |action: &'static str| sql_err(&self.db_path, action);
        let conn = self.conn();
        let tx = Transaction::new_unchecked(&conn, TransactionBehavior::Immediate)
            .map_err(sql("start metrics update"))?;
        let current = self.get_version(&tx, name, version)?;
        let mut metrics = match current.metrics {
            serde_json::Value::Object(map) => map,
            serde_json::Value::Null => serde_json::Map::new(),
            other => serde_json::Map::from_iter([("training".to_string(), other)]),
        };
        let value_text = serde_json::to_string(&value).map_err(|source| Error::Serialize {
            what: "metrics value",
            source,
        })?;
        metrics.insert(key.to_string(), value);
        let metrics_text = serde_json::to_string(&metrics).map_err(|source| Error::Serialize {
            what: "metrics",
            source,
        })?;
        tx.execute(
            "UPDATE model_versions SET metrics = ?3 WHERE name = ?1 AND version = ?2",
            params![name, version, metrics_text],
        )
        .map_err(sql("write metrics"))?;
        tx.execute(
            "INSERT INTO metric_updates (name, version, key, value, at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, version, key, value_text, timestamp(now)],
        )
        .map_err(sql("record metrics update"))?;
        tx.commit().map_err(sql("commit metrics update"))
    }

    // ---- internals ----

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open (they roll back
        // on drop), so a poisoned connection is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Indexes version directories that have no row (see [`Recovery::adopted`]).
    fn adopt_orphans(&mut self) -> Result<()> {
        let candidates = self.orphan_candidates()?;
        if candidates.is_empty() {
            return Ok(());
        }
        let mut adopted = Vec::new();
        let mut unreadable = Vec::new();
        {
            let sql = |action: &'static str| sql_err(&self.db_path, action);
            let conn = self.conn();
            // Registrations move a bundle into place and insert its row under the write
            // lock, so a directory still without a row while we hold it is an orphan.
            let tx = Transaction::new_unchecked(&conn, TransactionBehavior::Immediate)
                .map_err(sql("start recovery"))?;
            for (name, version) in candidates {
                if self.has_version(&tx, &name, version)? {
                    continue;
                }
                let dir = self.version_dir(&name, version);
                let bundle = match Bundle::open(&dir) {
                    Ok(b) => b,
                    Err(e) => {
                        unreadable.push((dir, e.to_string()));
                        continue;
                    }
                };
                if bundle.manifest.name != name || bundle.manifest.version != version {
                    unreadable.push((
                        dir,
                        format!(
                            "its manifest describes {}@{}",
                            bundle.manifest.name, bundle.manifest.version
                        ),
                    ));
                    continue;
                }
                let row = VersionRow::from_manifest(&bundle.manifest, bundle.manifest_sha256);
                row.insert(&tx).map_err(sql("index recovered bundle"))?;
                adopted.push(row);
            }
            tx.commit().map_err(sql("commit recovery"))?;
        }
        self.recovery.adopted = adopted
            .into_iter()
            .map(|row| row.into_version(self))
            .collect::<Result<_>>()?;
        self.recovery.unreadable = unreadable;
        Ok(())
    }

    /// `(name, version)` of every `<models_dir>/<name>/<version>` directory without a row.
    fn orphan_candidates(&self) -> Result<Vec<(String, u32)>> {
        let known: BTreeSet<(String, u32)> = {
            let conn = self.conn();
            self.query_pairs(&conn, "SELECT name, version FROM model_versions", [])?
        };
        let mut out = Vec::new();
        for name in list_dir(&self.models_dir)? {
            if name == STAGING_DIR || validate_model_name(&name).is_err() {
                continue;
            }
            let model_dir = self.models_dir.join(&name);
            if !model_dir.is_dir() {
                continue;
            }
            for entry in list_dir(&model_dir)? {
                let Ok(version) = entry.parse::<u32>() else {
                    continue;
                };
                // Only canonical names (`3`, not `03`) are version directories.
                if version == 0 || version.to_string() != entry {
                    continue;
                }
                if model_dir.join(&entry).is_dir() && !known.contains(&(name.clone(), version)) {
                    out.push((name.clone(), version));
                }
            }
        }
        Ok(out)
    }

    fn query_versions(
        &self,
        conn: &Connection,
        tail: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<ModelVersion>> {
        let sql = format!("SELECT {VERSION_COLUMNS} FROM model_versions {tail}");
        let mut stmt = conn
            .prepare(&sql)
            .map_err(sql_err(&self.db_path, "read versions"))?;
        let rows = stmt
            .query_map(params, VersionRow::from_row)
            .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
            .map_err(sql_err(&self.db_path, "read versions"))?;
        rows.into_iter().map(|row| row.into_version(self)).collect()
    }

    fn query_pairs<A, B, C>(
        &self,
        conn: &Connection,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<C>
    where
        A: rusqlite::types::FromSql,
        B: rusqlite::types::FromSql,
        C: FromIterator<(A, B)>,
    {
        let mut stmt = conn
            .prepare(sql)
            .map_err(sql_err(&self.db_path, "read index"))?;
        stmt.query_map(params, |r| Ok((r.get::<_, A>(0)?, r.get::<_, B>(1)?)))
            .and_then(Iterator::collect::<rusqlite::Result<C>>)
            .map_err(sql_err(&self.db_path, "read index"))
    }

    fn query_triples(&self, conn: &Connection, sql: &str) -> Result<Vec<(String, String, u32)>> {
        let mut stmt = conn
            .prepare(sql)
            .map_err(sql_err(&self.db_path, "read index"))?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
            .map_err(sql_err(&self.db_path, "read index"))
    }

    fn aliases_in(&self, conn: &Connection, name: &str) -> Result<BTreeMap<String, u32>> {
        self.query_pairs(
            conn,
            "SELECT alias, version FROM aliases WHERE name = ?1",
            params![name],
        )
    }

    fn has_version(&self, conn: &Connection, name: &str, version: u32) -> Result<bool> {
        conn.query_row(
            "SELECT 1 FROM model_versions WHERE name = ?1 AND version = ?2",
            params![name, version],
            |_| Ok(()),
        )
        .optional()
        .map(|found| found.is_some())
        .map_err(sql_err(&self.db_path, "read versions"))
    }

    /// One version; a missing model or version is an error listing what exists.
    fn get_version(&self, conn: &Connection, name: &str, version: u32) -> Result<ModelVersion> {
        let found = self.query_versions(
            conn,
            "WHERE name = ?1 AND version = ?2",
            params![name, version],
        )?;
        if let Some(v) = found.into_iter().next() {
            return Ok(v);
        }
        self.require_model(conn, name)?;
        let available = self.version_numbers(conn, name)?;
        Err(Error::UnknownVersion {
            name: name.to_string(),
            version,
            available,
        })
    }

    fn version_numbers(&self, conn: &Connection, name: &str) -> Result<Vec<u32>> {
        let mut stmt = conn
            .prepare("SELECT version FROM model_versions WHERE name = ?1 ORDER BY version")
            .map_err(sql_err(&self.db_path, "read versions"))?;
        stmt.query_map([name], |r| r.get(0))
            .and_then(Iterator::collect::<rusqlite::Result<Vec<u32>>>)
            .map_err(sql_err(&self.db_path, "read versions"))
    }

    fn require_model(&self, conn: &Connection, name: &str) -> Result<()> {
        let exists = conn
            .query_row(
                "SELECT 1 FROM model_versions WHERE name = ?1 LIMIT 1",
                [name],
                |_| Ok(()),
            )
            .optional()
            .map_err(sql_err(&self.db_path, "read versions"))?;
        match exists {
            Some(()) => Ok(()),
            None => Err(self.unknown_model(conn, name)),
        }
    }

    fn unknown_model(&self, conn: &Connection, name: &str) -> Error {
        let available = conn
            .prepare("SELECT DISTINCT name FROM model_versions ORDER BY name")
            .and_then(|mut stmt| {
                stmt.query_map([], |r| r.get::<_, String>(0))
                    .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
            });
        match available {
            Ok(available) => Error::UnknownModel {
                name: name.to_string(),
                available,
            },
            Err(source) => Error::Sqlite {
                path: self.db_path.clone(),
                action: "list models",
                source,
            },
        }
    }

    fn parse_time(&self, text: &str) -> Result<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| Error::Corrupt {
                path: self.db_path.clone(),
                what: "timestamp",
                reason: format!("`{text}`: {e}"),
            })
    }
}

/// A `model_versions` row as stored.
struct VersionRow {
    name: String,
    version: u32,
    created_at: String,
    kind: String,
    training_rows: u64,
    fingerprint: String,
    code_version: String,
    manifest_sha256: String,
    metrics: String,
}

impl VersionRow {
    fn from_manifest(m: &Manifest, manifest_sha256: String) -> VersionRow {
        VersionRow {
            name: m.name.clone(),
            version: m.version,
            created_at: timestamp(m.created_at),
            kind: m.kind.clone(),
            training_rows: m.training_data.rows,
            fingerprint: m.training_data.fingerprint.clone(),
            code_version: m.code_version.clone(),
            manifest_sha256,
            metrics: m.metrics.to_string(),
        }
    }

    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<VersionRow> {
        Ok(VersionRow {
            name: r.get(0)?,
            version: r.get(1)?,
            created_at: r.get(2)?,
            kind: r.get(3)?,
            training_rows: r.get(4)?,
            fingerprint: r.get(5)?,
            code_version: r.get(6)?,
            manifest_sha256: r.get(7)?,
            metrics: r.get(8)?,
        })
    }

    fn insert(&self, conn: &Connection) -> rusqlite::Result<()> {
        conn.execute(
            &format!("INSERT INTO model_versions ({VERSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
            params![
                self.name,
                self.version,
                self.created_at,
                self.kind,
                self.training_rows,
                self.fingerprint,
                self.code_version,
                self.manifest_sha256,
                self.metrics
            ],
        )
        .map(|_| ())
    }

    fn into_version(self, registry: &Registry) -> Result<ModelVersion> {
        let metrics = serde_json::from_str(&self.metrics).map_err(|e| Error::Corrupt {
            path: registry.db_path.clone(),
            what: "metrics value",
            reason: e.to_string(),
        })?;
        Ok(ModelVersion {
            dir: registry.version_dir(&self.name, self.version),
            created_at: registry.parse_time(&self.created_at)?,
            name: self.name,
            version: self.version,
            kind: self.kind,
            metrics,
            training_rows: self.training_rows,
            fingerprint: self.fingerprint,
            code_version: self.code_version,
            manifest_sha256: self.manifest_sha256,
        })
    }
}

/// The version `alias` of `name` points at, if it is set.
fn alias_version(
    conn: &Connection,
    db_path: &Path,
    name: &str,
    alias: &str,
) -> Result<Option<u32>> {
    conn.query_row(
        "SELECT version FROM aliases WHERE name = ?1 AND alias = ?2",
        params![name, alias],
        |r| r.get(0),
    )
    .optional()
    .map_err(sql_err(db_path, "read alias"))
}

fn sql_err(path: &Path, action: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Sqlite {
        path,
        action,
        source,
    }
}

fn next_version(v: u32, db_path: &Path) -> Result<u32> {
    v.checked_add(1).ok_or_else(|| Error::Corrupt {
        path: db_path.to_path_buf(),
        what: "version number",
        reason: "the highest version is already 4294967295".into(),
    })
}

/// RFC 3339 in UTC with the sub-second digits that are needed, e.g. `2026-11-22T06:00:00Z`.
fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Names of a directory's entries (non-UTF-8 names are skipped).
fn list_dir(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        action: "list",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            action: "list",
            path: dir.to_path_buf(),
            source,
        })?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Switches the database to WAL. When several connections open a fresh database at the same
/// moment, SQLite can answer `SQLITE_BUSY` to the journal-mode change at once, without
/// calling the busy handler, so retry until the busy timeout.
fn enable_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other.map(|_| ()),
        }
    }
}

/// Checks that `bundle` is the one the index recorded for `v` (name, version, manifest).
fn check_recorded(v: &ModelVersion, bundle: &Bundle) -> Result<()> {
    let mismatch = |field: &'static str, expected: String, actual: String| {
        Err(Error::ManifestMismatch {
            dir: v.dir.clone(),
            field,
            expected,
            actual,
        })
    };
    if bundle.manifest.name != v.name {
        return mismatch("name", v.name.clone(), bundle.manifest.name.clone());
    }
    if bundle.manifest.version != v.version {
        return mismatch(
            "version",
            v.version.to_string(),
            bundle.manifest.version.to_string(),
        );
    }
    if bundle.manifest_sha256 != v.manifest_sha256 {
        return mismatch(
            "manifest sha256",
            v.manifest_sha256.clone(),
            bundle.manifest_sha256.clone(),
        );
    }
    Ok(())
}
