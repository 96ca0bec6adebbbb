//! Integration tests of the public API on small synthetic data generated with a fixed seed.

use nightshift_models::metrics::{ECE_BINS, expected_calibration_error};
use nightshift_models::{CharWeighting, Error, Example, Input, TextClassifier, TrainConfig, train};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Row {
    text: String,
    label: String,
    parent: String,
}

const CLASSES: [(&str, &str, &[&str]); 4] = [
    (
        "refund_late",
        "billing",
        &["refund", "late", "money", "back", "waiting"],
    ),
    (
        "charge_double",
        "billing",
        &["charged", "twice", "double", "payment", "card"],
    ),
    (
        "driver_rude",
        "trip",
        &["driver", "rude", "shouted", "unfriendly", "attitude"],
    ),
    (
        "driver_lost",
        "trip",
        &["route", "lost", "detour", "wrong", "map"],
    ),
];
const NOISE: [&str; 8] = [
    "please", "help", "the", "my", "today", "hi", "thanks", "again",
];

/// Separable toy data: every text has two keywords of its class and some shared noise.
fn toy(n: usize, seed: u64) -> Vec<Row> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let (label, parent, words) = CLASSES[i % CLASSES.len()];
            let mut toks: Vec<&str> = (0..2)
                .map(|_| words[rng.random_range(0..words.len())])
                .collect();
            for _ in 0..rng.random_range(1..4) {
                toks.insert(
                    rng.random_range(0..=toks.len()),
                    NOISE[rng.random_range(0..NOISE.len())],
                );
            }
            Row {
                text: toks.join(" "),
                label: label.into(),
                parent: parent.into(),
            }
        })
        .collect()
}

fn examples(rows: &[Row]) -> Vec<Example<'_>> {
    rows.iter()
        .map(|r| Example {
            text: &r.text,
            label: &r.label,
            parent: Some(&r.parent),
            extras: &[],
        })
        .collect()
}

fn small_config() -> TrainConfig {
    let mut c = TrainConfig::default();
    c.features.hash_bits = 16;
    c.max_epochs = 10;
    c
}

/// One input at a time, a batch of rows, and a batch of columns give the same answers, for
/// any `top_k` (none, some, more than there are classes), across several parallel chunks.
#[test]
fn single_batch_and_column_predictions_agree() {
    let rows = toy(400, 1);
    let (model, _) = train(&small_config(), &examples(&rows)).unwrap();
    let test = toy(700, 3);
    let inputs: Vec<Input<'_>> = test.iter().map(|r| Input::text(&r.text)).collect();
    for k in [0, 1, 3, 10] {
        let batch = model.predict_batch(&inputs, k);
        let columns = model.predict_columns(&inputs, k);
        assert_eq!(columns.k, k.min(model.n_classes()));
        assert_eq!(columns.top_k.len(), inputs.len() * columns.k);
        for (i, (p, input)) in batch.iter().zip(&inputs).enumerate() {
            assert_eq!(*p, model.predict(input, k), "row {i}, k={k}");
            assert_eq!(p.label, columns.label[i]);
            assert_eq!(p.confidence, columns.confidence[i]);
            assert_eq!(p.parent, columns.parent[i]);
            assert_eq!(p.parent_confidence, columns.parent_confidence[i]);
            assert_eq!(p.top_k, columns.top_k_of(i));
        }
    }
}

#[test]
fn learns_separable_toy_problem() {
    let rows = toy(400, 1);
    let (model, report) = train(&small_config(), &examples(&rows)).unwrap();
    assert_eq!(report.classes, 4);
    assert_eq!(report.parents, Some(2));
    assert_eq!(report.parent_conflicts, 0);
    assert_eq!(report.train_accuracy, 1.0);
    let test = toy(200, 2);
    let inputs: Vec<Input<'_>> = test.iter().map(|r| Input::text(&r.text)).collect();
    let preds = model.predict_batch(&inputs, 2);
    for (p, r) in preds.iter().zip(&test) {
        assert_eq!(model.labels()[p.label as usize], r.label, "{}", r.text);
        assert_eq!(p.top_k.len(), 2);
        assert_eq!(p.top_k[0].0, p.label);
        assert!(p.top_k[0].1 >= p.top_k[1].1);
    }
}

#[test]
fn same_seed_same_bytes_regardless_of_threads() {
    let rows = toy(600, 3);
    let ex = examples(&rows);
    let mut cfg = small_config();
    cfg.threads = Some(1);
    let (a, _) = train(&cfg, &ex).unwrap();
    cfg.threads = Some(3);
    let (b, _) = train(&cfg, &ex).unwrap();
    let (c, _) = train(&cfg, &ex).unwrap();
    assert!(a.to_bytes() == b.to_bytes(), "1 vs 3 threads differ");
    assert!(b.to_bytes() == c.to_bytes(), "reruns differ");
    cfg.seed += 1;
    let (d, _) = train(&cfg, &ex).unwrap();
    assert_ne!(
        a.to_bytes(),
        d.to_bytes(),
        "seed should matter (split/shuffle)"
    );

    // Prediction does not depend on the pool either.
    let inputs: Vec<Input<'_>> = rows.iter().map(|r| Input::text(&r.text)).collect();
    let p1 = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| a.predict_batch(&inputs, 3));
    let p4 = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap()
        .install(|| a.predict_batch(&inputs, 3));
    assert_eq!(p1, p4);
}

#[test]
fn parent_is_always_parent_of_child() {
    // Noisy labels so that probabilities spread across classes.
    let mut rows = toy(400, 4);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for r in rows.iter_mut() {
        if rng.random_bool(0.3) {
            let (l, p, _) = CLASSES[rng.random_range(0..CLASSES.len())];
            r.label = l.into();
            r.parent = p.into();
        }
    }
    // One conflicting parent for a child.
    rows[0].parent = "trip".into();
    rows[0].label = "refund_late".into();
    let (model, report) = train(&small_config(), &examples(&rows)).unwrap();
    assert_eq!(report.parent_conflicts, 1);
    let parents = model.parents().unwrap();
    let billing = parents.iter().position(|p| p == "billing").unwrap() as u32;
    let refund = model
        .labels()
        .iter()
        .position(|l| l == "refund_late")
        .unwrap() as u32;
    assert_eq!(model.parent_of(refund), Some(billing));
    let test = toy(300, 5);
    let inputs: Vec<Input<'_>> = test.iter().map(|r| Input::text(&r.text)).collect();
    for (p, input) in model.predict_batch(&inputs, 0).iter().zip(&inputs) {
        assert_eq!(p.parent, model.parent_of(p.label));
        let probs = model.probabilities(input);
        let mass: f32 = (0..model.n_classes() as u32)
            .filter(|&c| model.parent_of(c) == p.parent)
            .map(|c| probs[c as usize])
            .sum();
        let pc = p.parent_confidence.unwrap();
        assert!((pc - mass).abs() < 1e-5);
        assert!(pc >= p.confidence - 1e-6);
        assert!(p.top_k.is_empty());
    }
}

#[test]
fn calibration_reports_sane_values() {
    let mut rows = toy(800, 6);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for r in rows.iter_mut() {
        if rng.random_bool(0.25) {
            r.label = CLASSES[rng.random_range(0..CLASSES.len())].0.into();
        }
    }
    let (model, report) = train(&small_config(), &examples(&rows)).unwrap();
    assert!(model.temperature() > 0.0 && model.temperature().is_finite());
    let (before, after) = (report.ece_before.unwrap(), report.ece_after.unwrap());
    assert!((0.0..=1.0).contains(&before) && (0.0..=1.0).contains(&after));
    // The fitted temperature minimises holdout NLL; on noisy labels it should not hurt ECE much.
    assert!(after <= before + 0.05, "{before} -> {after}");
    let (before, after) = (
        report.log_loss_before.unwrap(),
        report.log_loss_after.unwrap(),
    );
    assert!(
        after <= before && after > 0.0,
        "log-loss {before} -> {after}"
    );
    // Hand-made ECE example.
    let e = expected_calibration_error(
        &[0.95, 0.95, 0.55, 0.55],
        &[true, true, true, false],
        ECE_BINS,
    );
    assert!((e - (0.5 * 0.05 + 0.5 * 0.05)).abs() < 1e-6, "{e}");
}

#[test]
fn bytes_round_trip_gives_identical_predictions() {
    let rows = toy(300, 7);
    let (model, _) = train(&small_config(), &examples(&rows)).unwrap();
    let bytes = model.to_bytes();
    let back = TextClassifier::from_bytes(&bytes).unwrap();
    assert!(back.to_bytes() == bytes);
    assert_eq!(back.labels(), model.labels());
    assert_eq!(back.parents(), model.parents());
    assert_eq!(back.hyperparameters(), model.hyperparameters());
    let test = toy(100, 8);
    let inputs: Vec<Input<'_>> = test.iter().map(|r| Input::text(&r.text)).collect();
    assert_eq!(
        model.predict_batch(&inputs, 4),
        back.predict_batch(&inputs, 4)
    );
}

/// `bytes` (the current version, of a model without hidden layer) rewritten as format
/// `version` (1 stored the weights as `f32`; 2 had no character weighting byte; 1-3 have no
/// hidden width), with a fresh checksum.
fn as_old_version(model: &TextClassifier, bytes: &[u8], version: u32) -> Vec<u8> {
    assert_eq!(model.hidden_width(), 0);
    let n_weights = model.n_features() * model.n_classes();
    let hp = model.hyperparameters().to_string();
    let tail = 4 + 4 + hp.len() + 8; // hidden width 0, hyper-parameter string and checksum
    let w_end = bytes.len() - tail;
    let w_start = w_end - 2 * n_weights;
    let mut old = bytes[..w_start].to_vec();
    old[8..12].copy_from_slice(&version.to_le_bytes());
    if version == 1 {
        for pair in bytes[w_start..w_end].chunks_exact(2) {
            let bits = u32::from(u16::from_le_bytes([pair[0], pair[1]])) << 16;
            old.extend_from_slice(&bits.to_le_bytes());
        }
    } else {
        old.extend_from_slice(&bytes[w_start..w_end]);
    }
    assert_eq!(bytes[w_end..w_end + 4], [0, 0, 0, 0]);
    old.extend_from_slice(&bytes[w_end + 4..bytes.len() - 8]);
    let sum = nightshift_models::fnv1a(&old);
    old.extend_from_slice(&sum.to_le_bytes());
    old
}

/// Formats 1 to 3 (1 and 2: whole-text character weighting; 1 with `f32` weights) must
/// still load, with the same predictions, and re-save as the current version.
#[test]
fn version_1_2_and_3_bytes_still_load() {
    let rows = toy(300, 7);
    let mut config = small_config();
    config.features.char_weighting = CharWeighting::Text;
    // Formats before version 4 have no hidden layer, before version 5 extras as given.
    config.hidden = 0;
    config.features.whole_number_extras = false;
    let (model, _) = train(&config, &examples(&rows)).unwrap();
    let current = model.to_bytes();
    let test = toy(100, 8);
    let inputs: Vec<Input<'_>> = test.iter().map(|r| Input::text(&r.text)).collect();
    for version in [1, 2, 3] {
        let bytes = as_old_version(&model, &current, version);
        let old = TextClassifier::from_bytes(&bytes)
            .unwrap_or_else(|e| panic!("version {version} loads: {e}"));
        assert_eq!(old.feature_config().char_weighting, CharWeighting::Text);
        assert!(old.to_bytes() == current, "re-saved bit for bit");
        assert_eq!(
            model.predict_batch(&inputs, 3),
            old.predict_batch(&inputs, 3)
        );
    }
}

/// A per-token model cannot be passed off as version 2 (whose readers would ignore the
/// weighting byte and predict differently).
#[test]
fn token_weighting_needs_version_3() {
    let rows = toy(300, 7);
    let mut config = small_config();
    config.hidden = 0;
    let (model, _) = train(&config, &examples(&rows)).unwrap();
    assert_eq!(model.feature_config().char_weighting, CharWeighting::Token);
    let bytes = as_old_version(&model, &model.to_bytes(), 2);
    match TextClassifier::from_bytes(&bytes) {
        Err(Error::Corrupt(m)) => assert!(m.contains("character weighting"), "{m}"),
        other => panic!("expected a corrupt-model error, got {other:?}"),
    }
}

/// The hidden layer: learns, is deterministic whatever the thread count, survives the byte
/// format, and changes the model (its probabilities are mixed in).
#[test]
fn hidden_layer_model_is_deterministic_and_round_trips() {
    let rows = toy(600, 21);
    let ex = examples(&rows);
    let mut cfg = small_config();
    cfg.hidden = 16;
    cfg.hidden_epochs = 4;
    cfg.threads = Some(1);
    let (a, report) = train(&cfg, &ex).unwrap();
    assert_eq!(a.hidden_width(), 16);
    assert_eq!(report.train_accuracy, 1.0);
    assert_eq!(a.hyperparameters()["hidden"], 16);
    cfg.threads = Some(3);
    let (b, _) = train(&cfg, &ex).unwrap();
    let bytes = a.to_bytes();
    assert!(bytes == b.to_bytes(), "1 vs 3 threads differ");

    let back = TextClassifier::from_bytes(&bytes).unwrap();
    assert!(back.to_bytes() == bytes);
    let test = toy(200, 22);
    let inputs: Vec<Input<'_>> = test.iter().map(|r| Input::text(&r.text)).collect();
    let preds = a.predict_batch(&inputs, 4);
    assert_eq!(preds, back.predict_batch(&inputs, 4));
    for (p, r) in preds.iter().zip(&test) {
        assert_eq!(a.labels()[p.label as usize], r.label, "{}", r.text);
        let sum: f32 = p.top_k.iter().map(|t| t.1).sum();
        assert!((sum - 1.0).abs() < 1e-4, "top 4 of 4 classes sum to {sum}");
    }

    cfg.hidden_parent_loss = false;
    let (no_parent_loss, _) = train(&cfg, &ex).unwrap();
    assert!(
        no_parent_loss.to_bytes() != bytes,
        "the parent loss shapes the hidden layer"
    );
    assert_ne!(
        no_parent_loss.probabilities(&inputs[0]),
        a.probabilities(&inputs[0])
    );

    cfg.hidden = 0;
    let (linear, _) = train(&cfg, &ex).unwrap();
    assert_ne!(
        linear.probabilities(&inputs[0]),
        a.probabilities(&inputs[0]),
        "the hidden layer must change the probabilities"
    );

    // A cut anywhere in the hidden-layer fields is an error.
    let hidden_bytes = bytes.len() - linear.to_bytes().len();
    for cut in [1, hidden_bytes / 2, hidden_bytes] {
        assert!(TextClassifier::from_bytes(&bytes[..bytes.len() - cut]).is_err());
    }
}

#[test]
fn bytes_checked_elsewhere_parse_alike_and_never_panic() {
    // `from_bytes_checked_elsewhere` skips only the trailing checksum: intact bytes give the
    // same model, altered ones an error or some model that predicts without panicking (the
    // caller's own checksum rejects it).
    let rows = toy(200, 10);
    let mut cfg = small_config();
    cfg.hidden = 8;
    let (model, _) = train(&cfg, &examples(&rows)).unwrap();
    let bytes = model.to_bytes();
    let back = TextClassifier::from_bytes_checked_elsewhere(&bytes).unwrap();
    for row in rows.iter().take(50) {
        let input = Input::text(&row.text);
        assert_eq!(back.predict(&input, 3), model.predict(&input, 3));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    for _ in 0..300 {
        let mut b = bytes.clone();
        let i = rng.random_range(0..b.len());
        b[i] ^= 1 << rng.random_range(0..8);
        if let Ok(m) = TextClassifier::from_bytes_checked_elsewhere(&b) {
            let _ = m.predict(&Input::text("where is my refund for the late order"), 3);
        }
    }
    for len in [0, 12, bytes.len() / 2, bytes.len() - 9] {
        assert!(TextClassifier::from_bytes_checked_elsewhere(&bytes[..len]).is_err());
    }
}

#[test]
fn hidden_layer_settings_are_checked() {
    let rows = toy(50, 1);
    for (hidden, epochs, dropout) in [(5000, 12, 0.5), (8, 0, 0.5), (8, 12, 0.99)] {
        let mut cfg = small_config();
        cfg.hidden = hidden;
        cfg.hidden_epochs = epochs;
        cfg.hidden_dropout = dropout;
        assert!(
            matches!(train(&cfg, &examples(&rows)), Err(Error::InvalidConfig(_))),
            "{hidden} {epochs} {dropout}"
        );
    }
}

#[test]
fn corrupt_bytes_are_errors_not_panics() {
    let rows = toy(200, 10);
    let (model, _) = train(&small_config(), &examples(&rows)).unwrap();
    let bytes = model.to_bytes();
    for len in [
        0,
        3,
        8,
        12,
        20,
        40,
        bytes.len() / 2,
        bytes.len() - 9,
        bytes.len() - 1,
    ] {
        assert!(
            TextClassifier::from_bytes(&bytes[..len]).is_err(),
            "len {len}"
        );
    }
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    for _ in 0..300 {
        let mut b = bytes.clone();
        let i = rng.random_range(0..b.len());
        b[i] ^= 1 << rng.random_range(0..8);
        assert!(TextClassifier::from_bytes(&b).is_err(), "flip at {i}");
    }
    // Every single-bit flip in the header region.
    for i in 0..64.min(bytes.len()) {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            assert!(TextClassifier::from_bytes(&b).is_err());
        }
    }
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(TextClassifier::from_bytes(&extra).is_err());
    assert!(matches!(
        TextClassifier::from_bytes(b"NOTAMODEL...."),
        Err(Error::BadMagic)
    ));
}

#[test]
fn training_errors_are_clear() {
    let cfg = small_config();
    assert!(matches!(train(&cfg, &[]), Err(Error::EmptyTrainingData)));
    let one = [
        Example {
            text: "a b",
            label: "x",
            ..Default::default()
        },
        Example {
            text: "c d",
            label: "x",
            ..Default::default()
        },
    ];
    assert!(matches!(train(&cfg, &one), Err(Error::SingleClass(l)) if l == "x"));
    let empty = [
        Example {
            text: "",
            label: "x",
            ..Default::default()
        },
        Example {
            text: "  !! ",
            label: "y",
            ..Default::default()
        },
    ];
    assert!(matches!(train(&cfg, &empty), Err(Error::NoFeatures)));
    let no_label = [Example {
        text: "a",
        label: "",
        ..Default::default()
    }];
    assert!(matches!(
        train(&cfg, &no_label),
        Err(Error::EmptyLabel { index: 0 })
    ));
    let mut bad = cfg.clone();
    bad.features.hash_bits = 40;
    assert!(matches!(train(&bad, &one), Err(Error::InvalidConfig(_))));
}

#[test]
fn extras_are_features() {
    // Text is uninformative; the label is determined by the channel extra.
    let chat = [("channel", "chat")];
    let phone = [("channel", "phone")];
    let rows: Vec<Example<'_>> = (0..200)
        .map(|i| Example {
            text: "hello there",
            label: if i % 2 == 0 { "a" } else { "b" },
            parent: None,
            extras: if i % 2 == 0 { &chat } else { &phone },
        })
        .collect();
    let (model, report) = train(&small_config(), &rows).unwrap();
    assert_eq!(report.train_accuracy, 1.0);
    assert!(model.parents().is_none());
    let p = model.predict(
        &Input {
            text: "hello",
            extras: &phone,
        },
        1,
    );
    assert_eq!(model.labels()[p.label as usize], "b");
    assert_eq!(p.parent, None);
}

/// From format 5 on, an extra written `2.0` (a float column: pandas makes one of an integer
/// column with a gap) is the feature of `2` (an integer column); a format 4 model, trained
/// before, keeps hashing values as given, as it was trained.
#[test]
fn whole_number_extras_are_the_same_feature_from_format_5_on() {
    let values = [[("prio", "1")], [("prio", "2")], [("prio", "3")]];
    let rows: Vec<Example<'_>> = (0..300)
        .map(|i| Example {
            text: "hello there",
            label: ["low", "mid", "high"][i % 3],
            parent: None,
            extras: &values[i % 3],
        })
        .collect();
    let (model, _) = train(&small_config(), &rows).unwrap();
    assert!(model.feature_config().whole_number_extras);
    let probabilities = |m: &TextClassifier, prio: &str| {
        m.probabilities(&Input {
            text: "hello",
            extras: &[("prio", prio)],
        })
    };
    for (float, int) in [("2.0", "2"), ("3.00", "3")] {
        assert_eq!(probabilities(&model, float), probabilities(&model, int));
    }
    for other in ["2.5", "02", "v2.0", "2.", ".0", "-2.0x"] {
        assert_ne!(
            probabilities(&model, other),
            probabilities(&model, "2"),
            "{other}"
        );
    }
    // The same bytes as format 4: the flag byte was reserved (0) there, and is ignored.
    let mut v4 = model.to_bytes();
    v4[8..12].copy_from_slice(&4u32.to_le_bytes());
    let end = v4.len() - 8;
    let sum = nightshift_models::fnv1a(&v4[..end]);
    v4[end..].copy_from_slice(&sum.to_le_bytes());
    let old = TextClassifier::from_bytes(&v4).unwrap();
    assert!(!old.feature_config().whole_number_extras);
    assert_ne!(probabilities(&old, "2.0"), probabilities(&old, "2"));
    assert_eq!(probabilities(&old, "2"), probabilities(&model, "2"));
}
