//! Column buffers filled by one chunk, and their concatenation into Arrow arrays.
//!
//! Chunks are generated in parallel; each writes plain vectors (no per-row allocation), and the
//! day's arrays are built once from all chunks, in chunk order.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, BooleanArray, Float64Array, TimestampMicrosecondArray};

/// A UTF-8 column under construction: concatenated bytes plus end offsets.
#[derive(Debug, Default)]
pub(crate) struct StrCol {
    data: String,
    ends: Vec<usize>,
    valid: Vec<bool>,
}

impl StrCol {
    pub(crate) fn with_capacity(rows: usize, bytes_per_row: usize) -> Self {
        Self {
            data: String::with_capacity(rows * bytes_per_row),
            ends: Vec::with_capacity(rows),
            valid: Vec::with_capacity(rows),
        }
    }

    pub(crate) fn push(&mut self, s: &str) {
        self.data.push_str(s);
        self.ends.push(self.data.len());
        self.valid.push(true);
    }

    /// Appends a value written by `f` directly into the column's buffer.
    pub(crate) fn push_with(&mut self, f: impl FnOnce(&mut String)) {
        f(&mut self.data);
        self.ends.push(self.data.len());
        self.valid.push(true);
    }

    pub(crate) fn push_opt(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.push(s),
            None => self.push_null(),
        }
    }

    pub(crate) fn push_null(&mut self) {
        self.ends.push(self.data.len());
        self.valid.push(false);
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Concatenates chunk columns into one array.
    pub(crate) fn merge<'a>(cols: impl Iterator<Item = &'a StrCol> + Clone) -> ArrayRef {
        let rows = cols.clone().map(StrCol::len).sum();
        let bytes = cols.clone().map(|c| c.data.len()).sum();
        let mut b = StringBuilder::with_capacity(rows, bytes);
        for c in cols {
            let mut start = 0;
            for (&end, &valid) in c.ends.iter().zip(&c.valid) {
                if valid {
                    b.append_value(&c.data[start..end]);
                } else {
                    b.append_null();
                }
                start = end;
            }
        }
        Arc::new(b.finish())
    }
}

/// Concatenates timestamp (microseconds, UTC) chunk columns.
pub(crate) fn merge_ts<'a>(cols: impl Iterator<Item = &'a Vec<i64>> + Clone) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(concat(cols)).with_timezone("UTC"))
}

/// Concatenates float chunk columns.
pub(crate) fn merge_f64<'a>(cols: impl Iterator<Item = &'a Vec<f64>> + Clone) -> ArrayRef {
    Arc::new(Float64Array::from(concat(cols)))
}

/// Concatenates nullable float chunk columns.
pub(crate) fn merge_opt_f64<'a>(
    cols: impl Iterator<Item = &'a Vec<Option<f64>>> + Clone,
) -> ArrayRef {
    Arc::new(Float64Array::from(concat(cols)))
}

/// Concatenates boolean chunk columns.
pub(crate) fn merge_bool<'a>(cols: impl Iterator<Item = &'a Vec<bool>> + Clone) -> ArrayRef {
    Arc::new(BooleanArray::from(concat(cols)))
}

fn concat<'a, T: Copy + 'a>(cols: impl Iterator<Item = &'a Vec<T>> + Clone) -> Vec<T> {
    let mut out = Vec::with_capacity(cols.clone().map(Vec::len).sum());
    for c in cols {
        out.extend_from_slice(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, StringArray};

    #[test]
    fn merges_strings_in_order() {
        let mut a = StrCol::default();
        a.push("x");
        a.push_null();
        let mut b = StrCol::default();
        b.push_with(|s| s.push_str("yz"));
        b.push("");
        let arr = StrCol::merge([&a, &b].into_iter());
        let arr = arr.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(arr.len(), 4);
        assert_eq!(arr.value(0), "x");
        assert!(arr.is_null(1));
        assert_eq!(arr.value(2), "yz");
        assert_eq!(arr.value(3), "");
    }
}
