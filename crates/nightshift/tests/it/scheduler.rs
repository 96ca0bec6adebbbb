use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

use crate::{init, nightshift, stderr, stdout};

fn runs(p: &std::path::Path) -> Vec<serde_json::Value> {
    let out = nightshift(p, &["--json", "runs", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str::<serde_json::Value>(&stdout(&out))
        .expect("json")
        .as_array()
        .expect("array")
        .clone()
}

#[test]
fn the_scheduler_catches_up_missed_days_once_each() {
    let (_dir, p) = init();
    crate::generate_and_train(&p, 6, "2026-11-23");

    let out = nightshift(
        &p,
        &["scheduler", "--once", "--now", "2026-11-21T07:00:00Z"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(runs(&p).len(), 1, "a first start runs only the latest date");

    // Meanwhile someone checked a date by hand: a run of only `check` succeeds but publishes
    // nothing, so the date stays due.
    let out = nightshift(
        &p,
        &[
            "run",
            "root_cause",
            "--date",
            "2026-11-22T06:00:00Z",
            "--only",
            "check",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // Down for three days: the next tick runs the three missed dates, oldest first, and says
    // so on stdout with --json.
    let out = nightshift(
        &p,
        &[
            "--json",
            "scheduler",
            "--once",
            "--now",
            "2026-11-24T07:00:00Z",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let tick: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(tick["ok"], true, "{tick}");
    let ticked: Vec<&str> = tick["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["logical_date"].as_str().expect("date"))
        .collect();
    assert_eq!(
        ticked,
        [
            "2026-11-22T06:00:00Z",
            "2026-11-23T06:00:00Z",
            "2026-11-24T06:00:00Z"
        ],
        "{tick}"
    );
    assert!(tick["runs"][0]["run_id"].is_string(), "{tick}");
    assert_eq!(tick["runs"][0]["status"], "succeeded", "{tick}");
    let all: Vec<serde_json::Value> = runs(&p)
        .into_iter()
        .filter(|r| r["trigger"]["kind"] == "schedule")
        .collect();
    let mut dates: Vec<&str> = all
        .iter()
        .map(|r| r["logical_date"].as_str().expect("date"))
        .collect();
    dates.sort();
    assert_eq!(dates.len(), 4, "{all:?}");
    assert!(dates[0].starts_with("2026-11-21T06:00"), "{dates:?}");
    assert!(dates[3].starts_with("2026-11-24T06:00"), "{dates:?}");
    assert!(all.iter().all(|r| r["status"] == "succeeded"), "{all:?}");
    assert!(
        all.iter().all(|r| r["trigger"]["kind"] == "schedule"),
        "{all:?}"
    );

    // Nothing is due any more: no duplicate runs.
    let out = nightshift(
        &p,
        &["scheduler", "--once", "--now", "2026-11-24T08:00:00Z"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(runs(&p).len(), 5);
    assert_eq!(
        crate::count(
            &p,
            "SELECT count(*) - count(DISTINCT id) FROM output.root_cause_predictions"
        ),
        0
    );

    // A date whose run fails (here features, on a rollup dimension it lacks) waits before
    // the next attempt, retry_delay (2m) doubled per failed run, instead of re-running at
    // every tick; once fixed, the next attempt succeeds.
    let file = p.join("nightshift.toml");
    let good = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, good.replace("\"city\"]", "\"region\"]")).expect("write");
    let tick = |now: &str| {
        let out = nightshift(&p, &["--json", "scheduler", "--once", "--now", now]);
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
        (out.status.code(), doc["runs"][0].clone())
    };
    let (code, run) = tick("2026-11-25T07:00:00Z");
    assert_eq!(
        (code, &run["status"], &run["failed_task"]),
        (Some(1), &"failed".into(), &"features".into()),
        "{run}"
    );
    let (code, run) = tick("2026-11-25T07:03:00Z");
    assert_eq!(code, Some(0), "{run}");
    assert_eq!(run["status"], "waiting", "{run}");
    assert_eq!(run["retry_at"], "2026-11-25T07:04:00Z", "{run}");
    std::fs::write(&file, good).expect("write");
    let (code, run) = tick("2026-11-25T07:04:00Z");
    assert_eq!(
        (code, &run["status"]),
        (Some(0), &"succeeded".into()),
        "{run}"
    );
}

/// The logical dates one `scheduler --once --json` tick at `now` ran (or tried), at most
/// `max_catchup` of them; the tick must succeed.
fn ticked_dates(p: &std::path::Path, now: &str, max_catchup: &str) -> Vec<String> {
    let out = nightshift(
        p,
        &[
            "--json",
            "scheduler",
            "--once",
            "--now",
            now,
            "--max-catchup",
            max_catchup,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    doc["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["logical_date"].as_str().expect("date").to_string())
        .collect()
}

#[test]
fn a_date_done_by_hand_does_not_use_up_the_catch_up_limit() {
    let (_dir, p) = init();
    crate::generate_and_train(&p, 6, "2026-11-23");
    let tick = |now: &str, max: &str| ticked_dates(&p, now, max);
    assert_eq!(tick("2026-11-21T07:00:00Z", "1"), ["2026-11-21T06:00:00Z"]);
    // A hand run at midnight writes the slice of the 11-22 06:00 date.
    let out = nightshift(&p, &["run", "root_cause", "--date", "2026-11-22"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // One date per tick: the next one not done, not the done one (which ran nothing).
    assert_eq!(tick("2026-11-24T07:00:00Z", "1"), ["2026-11-23T06:00:00Z"]);
    assert_eq!(tick("2026-11-24T07:01:00Z", "1"), ["2026-11-24T06:00:00Z"]);
    assert!(tick("2026-11-24T07:02:00Z", "1").is_empty());
}

#[test]
fn a_schedule_finer_than_its_window_runs_each_slice_once() {
    // Every 15 minutes, a daily window: 96 fire times write the same slice. Catch-up goes
    // from slice to slice, not fire time to fire time (it used to stall on the done ones).
    let (_dir, p) = init();
    let file = p.join("nightshift.toml");
    let text = std::fs::read_to_string(&file).expect("read");
    std::fs::write(
        &file,
        text.replace("schedule = \"daily at 06:00\"", "schedule = \"every 15m\""),
    )
    .expect("write");
    crate::generate_and_train(&p, 6, "2026-11-23");
    let tick = |now: &str| ticked_dates(&p, now, "1");
    assert_eq!(tick("2026-11-22T06:00:00Z"), ["2026-11-22T06:00:00Z"]);
    // Fire times up to 11-22 23:45 write ds 2026-11-19, done; 11-23 00:00 starts ds 11-20.
    assert_eq!(tick("2026-11-23T07:00:00Z"), ["2026-11-23T00:00:00Z"]);
    assert!(tick("2026-11-23T07:15:00Z").is_empty());
}

#[test]
fn a_date_waiting_for_its_data_is_looked_at_each_tick_not_waited_for_inside_one() {
    // With wait_for_data, a tick looks whether the data is there and moves on (a run that
    // waited in place held up the other dates and pipelines, deadlines and a shutdown for up
    // to the wait); the date runs once its data lands, or fails once the wait is over.
    let (_dir, p) = init();
    let file = p.join("nightshift.toml");
    let text = std::fs::read_to_string(&file).expect("read");
    std::fs::write(
        &file,
        text.replace(
            "retry_delay = \"2m\"",
            "retry_delay = \"2m\"\nwait_for_data = \"2h\"",
        ),
    )
    .expect("write");
    // The data ends on 11-19: the date of 11-23 06:00 (ds 2026-11-20) has none yet.
    crate::generate_and_train(&p, 6, "2026-11-19");
    let tick = |now: &str| {
        let out = nightshift(&p, &["--json", "scheduler", "--once", "--now", now]);
        let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
        (
            out.status.code(),
            doc["runs"].as_array().expect("runs").clone(),
        )
    };
    for now in ["2026-11-23T07:00:00Z", "2026-11-23T07:30:00Z"] {
        let (code, ran) = tick(now);
        assert_eq!(code, Some(0), "{ran:?}");
        assert_eq!(ran.len(), 1, "{ran:?}");
        assert_eq!(ran[0]["status"], "waiting_for_data", "{ran:?}");
        assert_eq!(ran[0]["wait_until"], "2026-11-23T08:00:00Z", "{ran:?}");
        assert!(ran[0]["run_id"].is_null(), "{ran:?}");
        assert!(
            ran[0]["waiting_for"]
                .as_str()
                .is_some_and(|w| w.contains("raw.support_contacts")),
            "{ran:?}"
        );
    }
    assert!(runs(&p).is_empty(), "no run is recorded while waiting");
    // The data lands (up to 11-21: a window is complete once later data is there) only after
    // the next date is due: the waiting date, of a pipeline that never ran, is not dropped
    // for the latest one; it runs first, and the new one waits.
    let out = nightshift(
        &p,
        &[
            "generate",
            "--days",
            "8",
            "--rows-per-day",
            "300",
            "--end-date",
            "2026-11-21",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, ran) = tick("2026-11-24T07:00:00Z");
    assert_eq!(code, Some(0), "{ran:?}");
    let statuses: Vec<(&str, &str)> = ran
        .iter()
        .map(|r| {
            (
                r["logical_date"].as_str().expect("date"),
                r["status"].as_str().expect("status"),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("2026-11-23T06:00:00Z", "succeeded"),
            ("2026-11-24T06:00:00Z", "waiting_for_data")
        ]
    );
    // Its wait over, the date runs, and its check fails saying so.
    let (code, ran) = tick("2026-11-24T08:00:00Z");
    assert_eq!(code, Some(1), "{ran:?}");
    assert_eq!(
        (&ran[0]["status"], &ran[0]["failed_task"]),
        (&"failed".into(), &"check".into()),
        "{ran:?}"
    );
    assert!(
        ran[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("its wait_for_data of 2h after the date's time is over")),
        "{ran:?}"
    );
}

#[test]
fn a_date_fixed_by_hand_after_its_failure_alert_sends_run_recovered_once() {
    let (_dir, p) = init();
    crate::generate_and_train(&p, 6, "2026-11-23");
    // The date fails (a rollup dimension the features lack) and its failure is alerted.
    let file = p.join("nightshift.toml");
    let good = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, good.replace("\"city\"]", "\"region\"]")).expect("write");
    let tick = |now: &str| {
        let out = nightshift(&p, &["scheduler", "--once", "--now", now]);
        (out.status.code(), logged_alerts(&out))
    };
    let (code, alerts) = tick("2026-11-21T07:00:00Z");
    assert_eq!(code, Some(1));
    assert_eq!(of_event(&alerts, "task_failed").len(), 1, "{alerts:?}");
    // Fixed, and the date run by hand before the scheduler's next attempt.
    std::fs::write(&file, good).expect("write");
    let out = nightshift(&p, &["run", "root_cause", "--date", "2026-11-21T06:00:00Z"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (code, alerts) = tick("2026-11-21T07:01:00Z");
    assert_eq!(code, Some(0));
    let recovered = of_event(&alerts, "run_recovered");
    assert_eq!(recovered.len(), 1, "{alerts:?}");
    assert_eq!(recovered[0]["logical_date"], "2026-11-21T06:00:00Z");
    let (_, alerts) = tick("2026-11-21T07:02:00Z");
    assert!(of_event(&alerts, "run_recovered").is_empty(), "{alerts:?}");
}

#[test]
fn a_log_sink_prints_its_alerts_under_quiet() {
    // `-q` keeps errors only, but an alert is recorded as sent: the log sink's line must show.
    let (_dir, p) = init();
    let out = nightshift(
        &p,
        &["-q", "scheduler", "--once", "--now", "2026-11-22T10:00:00Z"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let alerts: Vec<&str> = err.lines().filter(|l| l.starts_with("alert: {")).collect();
    assert!(
        alerts.iter().any(|l| l.contains("\"deadline_missed\""))
            && alerts.iter().any(|l| l.contains("\"task_failed\"")),
        "{err}"
    );
}

#[test]
fn a_sink_that_cannot_be_reached_is_skipped_for_the_tick_one_that_refuses_an_alert_is_not() {
    // A hanging webhook cost its timeout for every alert of a tick, one after another; but a
    // sink that refuses one alert (a non-zero exit, an HTTP error) may take the next.
    let (dir, p) = init();
    let file = p.join("nightshift.toml");
    let good = std::fs::read_to_string(&file).expect("read");
    let with_pager = |command: &str| {
        good.replace("alerts = [\"ops\"]", "alerts = [\"pager\", \"ops\"]")
            .replace(
                "[alerts.ops]",
                &format!("[alerts.pager]\ncommand = {command}\n\n[alerts.ops]"),
            )
    };
    // No model: the date cannot start, and its deadline has passed: two alerts.
    let tick = || {
        let out = nightshift(
            &p,
            &["scheduler", "--once", "--now", "2026-11-22T10:00:00Z"],
        );
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let err = stderr(&out);
        let logged = err.lines().filter(|l| l.starts_with("alert: {")).count();
        assert_eq!(logged, 2, "the log sink takes both: {err}");
        err
    };
    let calls = dir.path().join("pager-calls");
    std::fs::write(
        &file,
        with_pager(&format!(
            "[\"sh\", \"-c\", \"echo called >> '{}'; exit 3\"]",
            calls.display()
        )),
    )
    .expect("write");
    tick();
    let called = std::fs::read_to_string(&calls).expect("the pager was called");
    assert_eq!(
        called.lines().count(),
        2,
        "refusing one alert is not being down"
    );

    std::fs::remove_dir_all(p.join(".nightshift")).expect("forget the alerts");
    std::fs::write(&file, with_pager("[\"/nonexistent/pager\"]")).expect("write");
    let err = tick();
    let failed = err
        .lines()
        .filter(|l| l.contains("alert sink `pager` failed"))
        .count();
    assert_eq!(failed, 1, "tried once in the tick: {err}");
}

#[test]
fn dates_a_catch_up_published_after_their_deadlines_are_alerted() {
    // Down from 11-21 to 11-24 10:00: the catch-up publishes three dates, each after its 09:00
    // deadline. Published late is still a missed deadline (it was hidden by the catch-up).
    let (_dir, p) = init();
    crate::generate_and_train(&p, 6, "2026-11-23");
    let tick = |now: &str| {
        let out = nightshift(&p, &["scheduler", "--once", "--now", now]);
        assert!(out.status.success(), "{}", stderr(&out));
        logged_alerts(&out)
    };
    assert!(tick("2026-11-21T07:00:00Z").is_empty());
    let alerts = tick("2026-11-24T10:00:00Z");
    let deadline = of_event(&alerts, "deadline_missed");
    assert_eq!(deadline.len(), 1, "{alerts:?}");
    assert_eq!(
        deadline[0]["dates"],
        serde_json::json!([
            "2026-11-22T06:00:00Z",
            "2026-11-23T06:00:00Z",
            "2026-11-24T06:00:00Z"
        ]),
        "{alerts:?}"
    );
    assert!(
        deadline[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("(published since, late)")),
        "{alerts:?}"
    );
}

#[test]
fn a_date_that_failed_in_a_catch_up_is_run_again_though_later_dates_are_done() {
    // The catch-up of 11-22 .. 11-24 fails 11-22 (its ds 2026-11-19 only) and completes the
    // later dates: 11-22 used to become a gap the scheduler never ran again.
    let (_dir, p) = init();
    crate::generate_and_train(&p, 6, "2026-11-23");
    let tick = |now: &str| ticked_dates(&p, now, "30");
    assert_eq!(tick("2026-11-21T07:00:00Z"), ["2026-11-21T06:00:00Z"]);
    let sql = p.join("sql/root_cause_features.sql");
    let good = std::fs::read_to_string(&sql).expect("read");
    let broken = good.replacen(
        "AND created_at <  TIMESTAMP '{{ window_end }}'",
        "AND created_at <  TIMESTAMP '{{ window_end }}'\n      AND '{{ ds }}' <> CAST(1 / (CASE WHEN '{{ ds }}' = '2026-11-19' THEN 0 ELSE 1 END) AS VARCHAR)",
        1,
    );
    assert_ne!(broken, good);
    std::fs::write(&sql, broken).expect("write");
    let out = nightshift(
        &p,
        &[
            "--json",
            "scheduler",
            "--once",
            "--now",
            "2026-11-24T07:00:00Z",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let statuses: Vec<&str> = doc["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["failed", "succeeded", "succeeded"], "{doc}");
    std::fs::write(&sql, good).expect("write");
    // Fixed: after its backoff (4m), the failed date runs again.
    assert_eq!(tick("2026-11-24T07:10:00Z"), ["2026-11-22T06:00:00Z"]);
    assert!(tick("2026-11-24T07:20:00Z").is_empty());
}

/// The alerts a command's `log` sink printed on stderr (`alert: {json}` lines).
fn logged_alerts(out: &std::process::Output) -> Vec<serde_json::Value> {
    stderr(out)
        .lines()
        .filter_map(|l| l.strip_prefix("alert: "))
        .map(|a| serde_json::from_str(a).expect("alert json"))
        .collect()
}

/// The alerts of one event among those received.
fn of_event<'a>(received: &'a [serde_json::Value], event: &str) -> Vec<&'a serde_json::Value> {
    received.iter().filter(|a| a["event"] == event).collect()
}

/// A one-thread HTTP server that answers 200 to every request and hands over the bodies.
fn webhook_server() -> (String, mpsc::Receiver<serde_json::Value>) {
    webhook_server_on(TcpListener::bind("127.0.0.1:0").expect("bind"))
}

fn webhook_server_on(listener: TcpListener) -> (String, mpsc::Receiver<serde_json::Value>) {
    let url = format!(
        "http://{}/hooks/nightshift",
        listener.local_addr().expect("addr")
    );
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok()
                && let Ok(json) = serde_json::from_slice(&body)
            {
                let _ = tx.send(json);
            }
            let mut stream = stream;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, rx)
}

#[test]
fn a_deadline_alert_reaches_a_webhook_even_when_the_run_never_started() {
    let (_dir, p) = init();
    let (url, alerts) = webhook_server();
    let file = p.join("nightshift.toml");
    let text = std::fs::read_to_string(&file).expect("read").replace(
        "[alerts.ops]\nlog = true",
        &format!("[alerts.ops]\nwebhook = \"{url}\""),
    );
    std::fs::write(&file, text).expect("write");

    // A brand-new project's first tick runs only the latest date: the days before it are not
    // late, so no deadline alert names them.
    let fresh = tempfile::tempdir().expect("tmp");
    let copy = fresh.path().join("p");
    std::fs::create_dir_all(copy.join("sql")).expect("mkdir");
    for f in ["nightshift.toml", "sql/root_cause_features.sql"] {
        std::fs::copy(p.join(f), copy.join(f)).expect("copy");
    }
    // At 08:00 the latest date's 09:00 deadline is still ahead: no alert at all (the date
    // before it, which the first tick would not run, is not late either).
    let out = nightshift(
        &copy,
        &["scheduler", "--once", "--now", "2026-11-22T08:00:00Z"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let early: Vec<serde_json::Value> = alerts.try_iter().collect();
    assert!(of_event(&early, "deadline_missed").is_empty(), "{early:?}");
    // A tick at 10:00 that fails (nothing can run), and the alerts it sent.
    let failing_tick = |project: &std::path::Path| {
        let out = nightshift(
            project,
            &["scheduler", "--once", "--now", "2026-11-22T10:00:00Z"],
        );
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        alerts.try_iter().collect::<Vec<serde_json::Value>>()
    };
    let received = failing_tick(&copy);
    let deadline = of_event(&received, "deadline_missed");
    assert_eq!(deadline.len(), 1, "{received:?}");
    assert_eq!(
        deadline[0]["logical_date"], "2026-11-22T06:00:00Z",
        "{received:?}"
    );

    // The project ran before (a hand check of the 19th), then the scheduler was down until
    // 2026-11-22 10:00: the 11-21 run never started and its 09:00 deadline has passed. (The
    // 11-22 run cannot start: no model is trained.)
    let out = nightshift(
        &p,
        &[
            "run",
            "root_cause",
            "--date",
            "2026-11-19",
            "--only",
            "check",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let received = failing_tick(&p);
    let deadline = of_event(&received, "deadline_missed");
    // The missed dates of the last three days, in one alert that names them.
    assert_eq!(deadline.len(), 1, "{received:?}");
    assert_eq!(
        deadline[0]["dates"],
        serde_json::json!([
            "2026-11-20T06:00:00Z",
            "2026-11-21T06:00:00Z",
            "2026-11-22T06:00:00Z"
        ]),
        "{received:?}"
    );
    assert!(
        received.iter().any(|a| a["event"] == "task_failed"),
        "{received:?}"
    );
    let first_count = received.len();

    // The next tick sends nothing new for the same events.
    let out = nightshift(
        &p,
        &["scheduler", "--once", "--now", "2026-11-22T10:05:00Z"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let again: Vec<serde_json::Value> = alerts.try_iter().collect();
    assert!(
        again.is_empty(),
        "deduplicated, got {again:?} after {first_count}"
    );
}

/// A webhook that is down when an alert is due gets it on a later tick, once it is back.
#[test]
fn an_alert_no_sink_took_is_sent_again_on_the_next_tick() {
    let (_dir, p) = init();
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let file = p.join("nightshift.toml");
    let text = std::fs::read_to_string(&file).expect("read").replace(
        "[alerts.ops]\nlog = true",
        &format!("[alerts.ops]\nwebhook = \"http://127.0.0.1:{port}/hook\""),
    );
    std::fs::write(&file, text).expect("write");
    // Nothing listens on the port: the tick's alerts are not delivered.
    let out = nightshift(
        &p,
        &["scheduler", "--once", "--now", "2026-11-22T10:00:00Z"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sent again next tick"),
        "{}",
        stderr(&out)
    );
    let (_url, alerts) = webhook_server_on(TcpListener::bind(("127.0.0.1", port)).expect("rebind"));
    let out = nightshift(
        &p,
        &["scheduler", "--once", "--now", "2026-11-22T10:05:00Z"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let received: Vec<serde_json::Value> = alerts.try_iter().collect();
    assert!(
        received.iter().any(|a| a["event"] == "deadline_missed"),
        "{received:?}"
    );
    assert!(
        received.iter().any(|a| a["event"] == "task_failed"),
        "{received:?}"
    );
}

/// The runs went well but an alert could not be delivered: the tick says so (`ok: false`,
/// `alert_failures`, exit 1), or a cron job running it would never learn that paging is down.
#[test]
fn a_tick_whose_alerts_could_not_be_delivered_fails() {
    let (_dir, p) = init();
    crate::generate_and_train(&p, 4, "2026-11-20");
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let file = p.join("nightshift.toml");
    let text = std::fs::read_to_string(&file).expect("read").replace(
        "[alerts.ops]\nlog = true",
        &format!("[alerts.ops]\nwebhook = \"http://127.0.0.1:{port}/hook\""),
    );
    std::fs::write(&file, text).expect("write");
    // Published at 10:00, after its 09:00 deadline: an alert, which nothing takes.
    let out = nightshift(
        &p,
        &[
            "--json",
            "scheduler",
            "--once",
            "--no-vacuum",
            "--now",
            "2026-11-22T10:00:00Z",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let tick: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(tick["runs"][0]["status"], "succeeded", "{tick}");
    assert_eq!(tick["ok"], false, "{tick}");
    let failures = tick["alert_failures"].as_array().expect("alert_failures");
    assert!(
        !failures.is_empty() && failures[0].as_str().is_some_and(|f| f.starts_with("ops: ")),
        "{tick}"
    );
    assert!(
        stderr(&out).contains("alert delivery(ies) failed in this tick")
            && stderr(&out).contains("hint: check the sinks in [alerts]"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_catch_up_over_failing_dates_sends_one_alert_per_event_not_one_per_date() {
    let (_dir, p) = init();
    crate::generate_and_train(&p, 6, "2026-11-23");
    let (url, alerts) = webhook_server();
    let file = p.join("nightshift.toml");
    let good = std::fs::read_to_string(&file).expect("read").replace(
        "[alerts.ops]\nlog = true",
        &format!("[alerts.ops]\nwebhook = \"{url}\""),
    );
    std::fs::write(&file, &good).expect("write");
    let tick = |now: &str| {
        let out = nightshift(&p, &["scheduler", "--once", "--now", now]);
        let received: Vec<serde_json::Value> = alerts.try_iter().collect();
        (out.status.code(), received)
    };
    let events = |received: &[serde_json::Value], event: &str| -> Vec<serde_json::Value> {
        received
            .iter()
            .filter(|a| a["event"] == event)
            .cloned()
            .collect()
    };
    let (code, _) = tick("2026-11-21T07:00:00Z");
    assert_eq!(code, Some(0));

    // Down for three days, and meanwhile the rollups name a dimension the features lack: the
    // three due dates fail in `features`, and their deadlines (09:00) of 11-22 and 11-23 have
    // passed: one alert for each event, naming the dates.
    std::fs::write(&file, good.replace("\"city\"]", "\"region\"]")).expect("write");
    let (code, received) = tick("2026-11-24T10:00:00Z");
    assert_eq!(code, Some(1), "{received:?}");
    let failed = events(&received, "task_failed");
    assert_eq!(failed.len(), 1, "{received:?}");
    assert_eq!(failed[0]["task"], "features", "{failed:?}");
    assert_eq!(
        failed[0]["dates"],
        serde_json::json!([
            "2026-11-22T06:00:00Z",
            "2026-11-23T06:00:00Z",
            "2026-11-24T06:00:00Z"
        ]),
        "{failed:?}"
    );
    assert_eq!(failed[0]["logical_date"], "2026-11-22T06:00:00Z");
    let message = failed[0]["message"].as_str().expect("message");
    assert!(
        message.contains("3 dates, 2026-11-22 06:00 to 2026-11-24 06:00, failed")
            && message.contains("region"),
        "{message}"
    );
    let deadlines = events(&received, "deadline_missed");
    assert_eq!(deadlines.len(), 1, "{received:?}");
    assert_eq!(
        deadlines[0]["dates"].as_array().map(Vec::len),
        Some(3),
        "11-22, 11-23 and 11-24 (09:00 passed at 10:00): {deadlines:?}"
    );

    // Fixed; after the backoff the three dates succeed: one recovery alert. An alert about a
    // single date has no `dates`.
    std::fs::write(&file, &good).expect("write");
    let (code, received) = tick("2026-11-24T10:10:00Z");
    assert_eq!(code, Some(0), "{received:?}");
    let recovered = events(&received, "run_recovered");
    assert_eq!(recovered.len(), 1, "{received:?}");
    assert_eq!(recovered[0]["dates"].as_array().map(Vec::len), Some(3));
    assert!(events(&received, "task_failed").is_empty(), "{received:?}");

    std::fs::write(&file, good.replace("\"city\"]", "\"region\"]")).expect("write");
    let (code, received) = tick("2026-11-25T07:00:00Z");
    assert_eq!(code, Some(1), "{received:?}");
    let failed = events(&received, "task_failed");
    assert_eq!(failed.len(), 1, "{received:?}");
    assert!(failed[0].get("dates").is_none(), "{failed:?}");
    assert_eq!(failed[0]["logical_date"], "2026-11-25T06:00:00Z");
}

/// The data files of the Delta table at `dir`: `(on disk, used by its latest version)`, as
/// relative paths (the log's adds less its removes, read commit by commit).
fn table_files(dir: &std::path::Path) -> (Vec<String>, Vec<String>) {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                let rel = path.strip_prefix(root).expect("under the table");
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut on_disk = Vec::new();
    walk(dir, dir, &mut on_disk);
    let mut commits: Vec<_> = std::fs::read_dir(dir.join("_delta_log"))
        .expect("log")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    commits.sort();
    let mut used = std::collections::BTreeSet::new();
    for commit in commits {
        for line in std::fs::read_to_string(&commit).expect("commit").lines() {
            let action: serde_json::Value = serde_json::from_str(line).expect("action");
            let path = |kind: &str| {
                action[kind]["path"]
                    .as_str()
                    .map(|p| p.replace("%3A", ":").replace("%20", " "))
            };
            if let Some(p) = path("add") {
                used.insert(p);
            }
            if let Some(p) = path("remove") {
                used.remove(&p);
            }
        }
    }
    on_disk.sort();
    (on_disk, used.into_iter().collect())
}

#[test]
fn the_scheduler_deletes_the_files_its_tables_replaced_once_past_the_retention() {
    let (_dir, p) = init();
    crate::generate_and_train(&p, 6, "2026-11-23");
    // The same date twice: the second run replaces the first's slices.
    for _ in 0..2 {
        let out = nightshift(&p, &["run", "root_cause", "--date", "2026-11-22"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let tables = [
        "intermediate/root_cause_features",
        "output/root_cause_predictions",
        "output/root_cause_rollups",
    ];
    for t in tables {
        let (on_disk, used) = table_files(&p.join("warehouse").join(t));
        assert!(on_disk.len() > used.len(), "{t}: {on_disk:?} / {used:?}");
    }
    let predictions = crate::count(&p, "SELECT count(*) FROM output.root_cause_predictions");
    // A tick eight days later (no date run: --max-catchup 0), as a long-running scheduler.
    let later = (chrono::Utc::now() + chrono::TimeDelta::days(8)).to_rfc3339();
    let tick = |extra: &[&str]| {
        let mut args = vec![
            "scheduler",
            "--once",
            "--max-catchup",
            "0",
            "--now",
            later.as_str(),
        ];
        args.extend_from_slice(extra);
        nightshift(&p, &args)
    };

    let out = tick(&["--vacuum-retain", "30m"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));

    let out = tick(&["--no-vacuum"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (on_disk, used) = table_files(&p.join("warehouse").join(tables[0]));
    assert!(on_disk.len() > used.len(), "--no-vacuum deleted files");

    // Replaced eight days before that clock: under a 9-day retention, nothing goes.
    let out = tick(&["--vacuum-retain", "9d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (on_disk, used) = table_files(&p.join("warehouse").join(tables[0]));
    assert!(
        on_disk.len() > used.len(),
        "files younger than the retention went"
    );

    let out = tick(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("vacuum: deleted"), "{}", stderr(&out));
    for t in tables {
        let (on_disk, used) = table_files(&p.join("warehouse").join(t));
        assert_eq!(
            on_disk, used,
            "{t}: only the latest version's files are left"
        );
    }
    assert_eq!(
        crate::count(&p, "SELECT count(*) FROM output.root_cause_predictions"),
        predictions
    );
    // Upstream tables are not the scheduler's: their files stay (none was replaced anyway).
    let (on_disk, used) = table_files(&p.join("warehouse/raw/support_contacts"));
    assert_eq!(on_disk, used);
}

/// SIGTERM while the first tick runs its dates: the scheduler finishes the run in progress
/// and exits 0 (the handler is installed before the first tick), leaving no abandoned run.
#[cfg(unix)]
#[test]
fn sigterm_during_the_first_tick_lets_its_run_finish() {
    let (_dir, p) = init();
    crate::generate_and_train(&p, 6, "2026-11-20");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .arg("--project")
        .arg(&p)
        .args(["scheduler", "--now", "2026-11-22T10:00:00Z", "--no-vacuum"])
        .env_remove("NIGHTSHIFT_PROJECT")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start scheduler");
    std::thread::sleep(std::time::Duration::from_millis(400));
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: sends a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = nightshift(&p, &["--json", "runs", "list"]);
    let runs: serde_json::Value = serde_json::from_str(&crate::stdout(&out)).expect("json");
    assert!(
        runs.as_array()
            .expect("runs")
            .iter()
            .all(|r| r["status"] != "abandoned" && r["status"] != "running"),
        "{runs}"
    );
}

/// SIGTERM during a catch-up stops it after the run in progress, not after every due date
/// (with a month to catch up, only `kill -9` stopped it).
#[cfg(unix)]
#[test]
fn sigterm_during_a_catch_up_stops_it_after_the_run_in_progress() {
    let (_dir, p) = init();
    crate::generate_and_train(&p, 8, "2026-11-25");
    let out = nightshift(
        &p,
        &[
            "scheduler",
            "--once",
            "--no-vacuum",
            "--now",
            "2026-11-21T07:00:00Z",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Six dates due (the 22nd to the 27th).
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .arg("--project")
        .arg(&p)
        .args([
            "scheduler",
            "--once",
            "--no-vacuum",
            "--now",
            "2026-11-27T07:00:00Z",
        ])
        .env_remove("NIGHTSHIFT_PROJECT")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start scheduler");
    // Signalled once its first run of the catch-up is under way (as its log says: `runs
    // list` from here would reap it, its lease being by the scheduler's --now).
    let mut child = child;
    let mut log = BufReader::new(child.stderr.take().expect("stderr"));
    let mut err = String::new();
    while !err.contains(" run root_cause-") {
        assert_ne!(
            log.read_line(&mut err).expect("read"),
            0,
            "no run started: {err}"
        );
    }
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: sends a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    log.read_to_string(&mut err).expect("read");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "{err}");
    let all = runs(&p);
    assert!(
        all.len() <= 3,
        "the run in progress (and at most one started as the signal came), not all six: {all:?}"
    );
    assert!(
        all.iter()
            .all(|r| r["status"] != "abandoned" && r["status"] != "running"),
        "{all:?}"
    );
    assert!(
        err.contains("shutting down after the run in progress"),
        "{err}"
    );
}

/// A long-running scheduler picks up an edited project file at its next tick; an edit that
/// does not load is reported and the previous configuration kept.
#[cfg(unix)]
#[test]
fn a_long_running_scheduler_reloads_an_edited_project_file() {
    use std::io::Read;
    let (_dir, p) = init();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .arg("--project")
        .arg(&p)
        .args([
            "--json",
            "scheduler",
            "--now",
            "2026-11-22T10:00:00Z",
            "--no-vacuum",
            "--poll-seconds",
            "1",
        ])
        .env_remove("NIGHTSHIFT_PROJECT")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start scheduler");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let file = p.join("nightshift.toml");
    let good = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, format!("{good}\nnot toml at all\n")).expect("write");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    std::fs::write(&file, good.replace("top_k = 3", "top_k = 2")).expect("write");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: sends a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "changed but does not load, so the scheduler keeps the previous configuration"
        ),
        "{err}"
    );
    assert!(err.contains("changed: reloaded"), "{err}");
    // With --json, one JSON line per tick.
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read stdout");
    let ticks: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(ticks.len() >= 3, "{out}");
    assert!(ticks.iter().all(|t| t["runs"].is_array()), "{out}");
}
