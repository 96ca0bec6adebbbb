//! Finding the trip or order a contact is about: per (day, city, class) lists of indices of the
//! four days a contact may refer to, so a fitting trip is drawn in O(1) instead of by trial.

use rand::Rng;

use crate::world::CITIES;

/// Indices of the entities of days d, d-1, d-2, d-3, grouped by city and class.
#[derive(Debug, Default)]
pub(crate) struct RefIndex {
    classes: usize,
    /// `[back][city][class]`, flattened.
    lists: Vec<Vec<u32>>,
}

impl RefIndex {
    /// Classifies entities `0..n` of one day with `class_of(index) -> (city, class)`.
    pub(crate) fn day_lists(
        n: usize,
        classes: usize,
        class_of: impl Fn(u64) -> (usize, usize),
    ) -> Vec<Vec<u32>> {
        let mut lists = vec![Vec::new(); CITIES.len() * classes];
        let expected = n / (CITIES.len() * classes / 2).max(1);
        for l in &mut lists {
            l.reserve(expected);
        }
        for i in 0..n {
            let (city, class) = class_of(i as u64);
            lists[city * classes + class].push(i as u32);
        }
        lists
    }

    /// Assembles the lists of days d, d-1, d-2, d-3 (in that order).
    pub(crate) fn new(classes: usize, days: Vec<Vec<Vec<u32>>>) -> Self {
        Self {
            classes,
            lists: days.into_iter().flatten().collect(),
        }
    }

    fn list(&self, back: usize, city: usize, class: usize) -> &[u32] {
        &self.lists[(back * CITIES.len() + city) * self.classes + class]
    }

    /// A uniform index among the entities of day `d - back` in `city` whose class is in `mask`.
    pub(crate) fn sample<R: Rng>(
        &self,
        rng: &mut R,
        back: usize,
        city: usize,
        mask: u64,
    ) -> Option<u32> {
        let classes = (0..self.classes).filter(|c| mask >> c & 1 == 1);
        let total: usize = classes
            .clone()
            .map(|c| self.list(back, city, c).len())
            .sum();
        if total == 0 {
            return None;
        }
        let mut k = rng.random_range(0..total);
        for c in classes {
            let l = self.list(back, city, c);
            if k < l.len() {
                return Some(l[k]);
            }
            k -= l.len();
        }
        None
    }
}
