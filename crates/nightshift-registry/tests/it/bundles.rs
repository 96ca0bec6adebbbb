use std::fs::OpenOptions;

use nightshift_registry::{Bundle, Error, sha256_hex};

use crate::{Project, at, register};

const WEIGHTS: &[u8] = b"0123456789abcdef0123456789abcdef";

fn setup() -> (
    Project,
    nightshift_registry::Registry,
    nightshift_registry::ModelVersion,
) {
    let p = Project::new();
    let reg = p.open();
    let v = register(&reg, "root_cause", WEIGHTS, at(6, 0));
    (p, reg, v)
}

#[test]
fn truncated_weights_are_reported_with_both_sizes() {
    let (_p, reg, v) = setup();
    let path = v.dir.join("weights.bin");
    OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_len(10))
        .expect("truncate");

    let err = reg.open_bundle(&v).expect_err("truncated accepted");
    match &err {
        Error::FileSizeMismatch {
            dir,
            file,
            expected,
            actual,
        } => {
            assert_eq!(dir, &v.dir);
            assert_eq!(file, "weights.bin");
            assert_eq!((*expected, *actual), (32, 10));
        }
        other => panic!("unexpected {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("weights.bin") && msg.contains("has 10 bytes, expected 32"),
        "{msg}"
    );
    assert!(err.hint().expect("hint").contains("restore the directory"));
}

#[test]
fn a_flipped_byte_is_a_checksum_error() {
    let (_p, _reg, v) = setup();
    let path = v.dir.join("weights.bin");
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[7] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");

    let err = Bundle::open(&v.dir).expect_err("altered accepted");
    match &err {
        Error::ChecksumMismatch {
            file,
            expected,
            actual,
            ..
        } => {
            assert_eq!(file, "weights.bin");
            assert_eq!(expected, &sha256_hex(WEIGHTS));
            assert_eq!(actual, &sha256_hex(&bytes));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("is altered"), "{err}");
}

#[test]
fn files_are_checked_again_when_read() {
    let (_p, reg, v) = setup();
    let bundle = reg.open_bundle(&v).expect("open");
    std::fs::write(v.dir.join("vocab.txt"), b"a\nc\n").expect("alter");
    let err = bundle.read_file("vocab.txt").expect_err("altered read");
    assert!(
        matches!(err, Error::ChecksumMismatch { ref file, .. } if file == "vocab.txt"),
        "{err:?}"
    );
    assert_eq!(bundle.read_file("weights.bin").expect("intact"), WEIGHTS);

    let err = bundle.read_file("model.onnx").expect_err("unlisted");
    assert!(matches!(err, Error::FileNotInBundle { .. }), "{err:?}");
    assert_eq!(
        err.hint().as_deref(),
        Some("the bundle holds: vocab.txt, weights.bin")
    );
}

#[test]
fn a_missing_file_or_manifest_is_named() {
    let (_p, reg, v) = setup();
    std::fs::remove_file(v.dir.join("weights.bin")).expect("rm");
    let err = reg.open_bundle(&v).expect_err("missing file");
    assert!(
        matches!(&err, Error::FileMissing { file, expected_bytes: 32, .. } if file == "weights.bin"),
        "{err:?}"
    );

    std::fs::remove_file(v.dir.join("manifest.json")).expect("rm");
    let err = reg.open_bundle(&v).expect_err("missing manifest");
    assert!(
        matches!(&err, Error::ManifestMissing { dir } if dir == &v.dir),
        "{err:?}"
    );
    assert!(err.to_string().contains("has no manifest.json"), "{err}");
    assert!(err.hint().is_some());

    std::fs::remove_dir_all(&v.dir).expect("rm dir");
    let err = reg.open_bundle(&v).expect_err("missing dir");
    assert!(matches!(err, Error::BundleMissing { .. }), "{err:?}");
}

#[test]
fn an_edited_or_broken_manifest_is_caught() {
    let (_p, reg, v) = setup();
    let path = v.dir.join("manifest.json");
    let original = std::fs::read_to_string(&path).expect("read");

    // Still valid, but not what the index recorded.
    let edited = original.replace("\"shipping\"", "\"refunds\"");
    assert_ne!(edited, original);
    std::fs::write(&path, &edited).expect("write");
    assert!(Bundle::open(&v.dir).is_ok());
    let err = reg.open_bundle(&v).expect_err("edited manifest");
    assert!(
        matches!(&err, Error::ManifestMismatch { field: "manifest sha256", expected, .. } if expected == &v.manifest_sha256),
        "{err:?}"
    );

    // A manifest pointing outside its directory.
    let escaping = original.replace("\"vocab.txt\"", "\"../../escape\"");
    std::fs::write(&path, &escaping).expect("write");
    let err = Bundle::open(&v.dir).expect_err("escaping file name");
    assert!(matches!(err, Error::ManifestInvalid { .. }), "{err:?}");

    std::fs::write(&path, b"{ not json").expect("write");
    let err = Bundle::open(&v.dir).expect_err("garbage");
    assert!(matches!(err, Error::ManifestInvalid { .. }), "{err:?}");

    let newer = original.replace("\"format_version\": 1", "\"format_version\": 2");
    assert_ne!(newer, original);
    std::fs::write(&path, &newer).expect("write");
    let err = Bundle::open(&v.dir).expect_err("newer format");
    assert!(
        matches!(
            err,
            Error::UnsupportedManifest {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn open_decoding_reads_the_file_once_and_returns_only_intact_results() {
    let (_p, reg, v) = setup();
    let (bundle, decoded) = reg
        .open_bundle_decoding(&v, "weights.bin", <[u8]>::to_vec)
        .expect("intact");
    assert_eq!(decoded, WEIGHTS);
    assert_eq!(bundle.manifest_sha256, v.manifest_sha256);

    // Same size, one byte altered: `decode` gets the altered bytes, the caller an error.
    let path = v.dir.join("weights.bin");
    let mut bytes = WEIGHTS.to_vec();
    bytes[3] ^= 0x20;
    std::fs::write(&path, &bytes).expect("alter");
    let mut seen = Vec::new();
    let err = reg
        .open_bundle_decoding(&v, "weights.bin", |b| seen = b.to_vec())
        .expect_err("altered weights accepted");
    assert_eq!(seen, bytes);
    assert!(
        matches!(&err, Error::ChecksumMismatch { file, actual, .. } if file == "weights.bin" && actual == &sha256_hex(&bytes)),
        "{err:?}"
    );

    // Truncated: the size is reported and `decode` never runs.
    std::fs::write(&path, &WEIGHTS[..10]).expect("truncate");
    let err = reg
        .open_bundle_decoding(&v, "weights.bin", |_| panic!("decoded a truncated file"))
        .expect_err("truncated accepted");
    assert!(
        matches!(
            err,
            Error::FileSizeMismatch {
                expected: 32,
                actual: 10,
                ..
            }
        ),
        "{err:?}"
    );

    // The bundle's other files are still verified.
    std::fs::write(&path, WEIGHTS).expect("restore");
    std::fs::write(v.dir.join("vocab.txt"), b"a\nc\n").expect("alter vocab");
    let err = reg
        .open_bundle_decoding(&v, "weights.bin", <[u8]>::to_vec)
        .expect_err("altered vocabulary accepted");
    assert!(
        matches!(&err, Error::ChecksumMismatch { file, .. } if file == "vocab.txt"),
        "{err:?}"
    );

    let err = reg
        .open_bundle_decoding(&v, "model.onnx", <[u8]>::to_vec)
        .expect_err("unlisted file");
    assert!(matches!(err, Error::FileNotInBundle { .. }), "{err:?}");
}
