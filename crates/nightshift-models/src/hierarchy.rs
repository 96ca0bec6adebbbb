//! Parent/child label hierarchy: the child → parent map learned from training data, and how
//! child probabilities roll up into a consistent parent prediction.

use serde::Serialize;
use std::collections::BTreeMap;

/// Marker for "this child has no parent" in [`Hierarchy::child_parent`].
pub(crate) const NO_PARENT: u32 = u32::MAX;

/// Child → parent map over label indices.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Hierarchy {
    /// Parent names, sorted.
    pub(crate) parents: Vec<String>,
    /// For each child index, its parent index or [`NO_PARENT`].
    pub(crate) child_parent: Vec<u32>,
}

/// What training learned of the labels' parents: how consistent the training data was.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HierarchyReport {
    /// Child labels seen with more than one parent (the most frequent parent wins; ties go to
    /// the parent name that sorts first).
    pub conflicting_children: usize,
    /// Training examples whose parent differs from the one chosen for their child.
    pub conflicting_examples: usize,
    /// Child labels never seen with a parent.
    pub children_without_parent: usize,
}

impl Hierarchy {
    /// Learns the map from `(child index, parent name)` pairs. Returns `None` when no example
    /// has a parent.
    pub(crate) fn learn<'a>(
        n_children: usize,
        pairs: impl Iterator<Item = (u32, Option<&'a str>)>,
    ) -> Option<(Self, HierarchyReport)> {
        let mut counts: Vec<BTreeMap<&'a str, usize>> = vec![BTreeMap::new(); n_children];
        let mut any = false;
        for (child, parent) in pairs {
            if let (Some(p), Some(slot)) = (parent, counts.get_mut(child as usize)) {
                *slot.entry(p).or_insert(0) += 1;
                any = true;
            }
        }
        if !any {
            return None;
        }
        let mut report = HierarchyReport::default();
        // Each child's parent: its most frequent one.
        let chosen: Vec<Option<&str>> = counts
            .iter()
            .map(|m| {
                // BTreeMap iterates names in order, so `>` keeps the first max.
                let best = m
                    .iter()
                    .fold(None::<(&str, usize)>, |acc, (&name, &n)| match acc {
                        Some((_, bn)) if bn >= n => acc,
                        _ => Some((name, n)),
                    });
                match best {
                    None => report.children_without_parent += 1,
                    Some((_, n)) if m.len() > 1 => {
                        report.conflicting_children += 1;
                        report.conflicting_examples += m.values().sum::<usize>() - n;
                    }
                    Some(_) => {}
                }
                best.map(|(name, _)| name)
            })
            .collect();
        // The parents are those chosen: one seen only with a child that has another, more
        // frequent parent can never be predicted, and is no parent of the model.
        let mut names: Vec<&str> = chosen.iter().flatten().copied().collect();
        names.sort_unstable();
        names.dedup();
        let child_parent = chosen
            .iter()
            .map(|c| {
                c.and_then(|name| names.binary_search(&name).ok())
                    .map_or(NO_PARENT, |i| i as u32)
            })
            .collect();
        Some((
            Self {
                parents: names.into_iter().map(str::to_owned).collect(),
                child_parent,
            },
            report,
        ))
    }

    /// Parent of `child`, if any.
    #[inline]
    pub(crate) fn parent_of(&self, child: u32) -> Option<u32> {
        self.child_parent
            .get(child as usize)
            .copied()
            .filter(|&p| p != NO_PARENT)
    }

    /// Sum of `probs[c]` over the children `c` whose parent is `parent`.
    #[inline]
    pub(crate) fn parent_mass(&self, parent: u32, probs: &[f32]) -> f32 {
        self.child_parent
            .iter()
            .zip(probs)
            .filter(|(p, _)| **p == parent)
            .map(|(_, &v)| v)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_frequent_parent_wins_and_conflicts_are_counted() {
        let pairs = [
            (0, Some("b")),
            (0, Some("a")),
            (0, Some("b")),
            (1, Some("a")),
            (2, None),
        ];
        let (h, r) = Hierarchy::learn(3, pairs.into_iter()).unwrap();
        assert_eq!(h.parents, ["a", "b"]);
        assert_eq!(h.parent_of(0), Some(1));
        assert_eq!(h.parent_of(1), Some(0));
        assert_eq!(h.parent_of(2), None);
        assert_eq!(r.conflicting_children, 1);
        assert_eq!(r.conflicting_examples, 1);
        assert_eq!(r.children_without_parent, 1);
        assert!((h.parent_mass(0, &[0.2, 0.5, 0.3]) - 0.5).abs() < 1e-6);
        assert!(Hierarchy::learn(2, [(0, None), (1, None)].into_iter()).is_none());
    }

    #[test]
    fn a_parent_no_child_keeps_is_no_parent_of_the_model() {
        // "other" is seen once, with a child whose parent is "a" 3 times.
        let pairs = [
            (0, Some("a")),
            (0, Some("a")),
            (0, Some("other")),
            (0, Some("a")),
            (1, Some("b")),
        ];
        let (h, r) = Hierarchy::learn(2, pairs.into_iter()).unwrap();
        assert_eq!(h.parents, ["a", "b"]);
        assert_eq!((h.parent_of(0), h.parent_of(1)), (Some(0), Some(1)));
        assert_eq!(r.conflicting_examples, 1);
    }

    #[test]
    fn ties_go_to_first_name() {
        let pairs = [(0, Some("z")), (0, Some("m"))];
        let (h, _) = Hierarchy::learn(1, pairs.into_iter()).unwrap();
        assert_eq!(h.parents[h.parent_of(0).unwrap() as usize], "m");
    }
}
