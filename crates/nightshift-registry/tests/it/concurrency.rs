use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};

use nightshift_registry::Registry;

use crate::{Project, at, entries, new_model};

#[test]
fn four_processes_registering_at_once_get_distinct_complete_versions() {
    let p = Arc::new(Project::new());
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4u8)
        .map(|i| {
            let p = Arc::clone(&p);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let weights = vec![i; 1000 + usize::from(i)];
                // Each thread has its own connection, like a separate process; all start
                // together, including creating the schema of a fresh database.
                barrier.wait();
                let reg = Registry::open(&p.db, &p.models).expect("open");
                let v = reg
                    .register(
                        new_model("root_cause", u64::from(i)),
                        &[("weights.bin", &weights)],
                        at(6, u32::from(i)),
                    )
                    .expect("register");
                (v.version, weights)
            })
        })
        .collect();
    let by_version: BTreeMap<u32, Vec<u8>> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    assert_eq!(by_version.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 4]);

    let reg = p.open();
    let versions = reg.versions("root_cause").expect("versions");
    assert_eq!(versions.len(), 4);
    for v in &versions {
        let bundle = reg.open_bundle(v).expect("complete bundle");
        assert_eq!(bundle.manifest.version, v.version);
        assert_eq!(
            bundle.read_file("weights.bin").expect("weights"),
            by_version[&v.version]
        );
    }
    assert_eq!(entries(&p.models.join("root_cause")), ["1", "2", "3", "4"]);
    assert_eq!(entries(&p.models.join(".staging")), [".gitignore", ".lock"]);
}

#[test]
fn one_registry_shared_between_threads() {
    let p = Project::new();
    let reg = p.open();
    std::thread::scope(|s| {
        for i in 0..3u32 {
            let reg = &reg;
            s.spawn(move || {
                reg.register(new_model("shared", 0), &[("w", b"x")], at(6, i))
                    .expect("register")
            });
        }
    });
    assert_eq!(
        reg.versions("shared")
            .expect("versions")
            .iter()
            .map(|v| v.version)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
}
