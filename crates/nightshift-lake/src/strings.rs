//! A string column read in place, whatever its Arrow layout.
//!
//! Parquet scans give `Utf8View`, batch writes and casts give `Utf8`, other sources
//! `LargeUtf8`; code that only reads the values (the refusal of bad rows, the model UDF) takes
//! a [`StringColumn`] instead of casting every batch to one layout.

use deltalake::arrow::array::{Array, ArrayRef, LargeStringArray, StringArray, StringViewArray};
use deltalake::arrow::buffer::NullBuffer;

/// A borrowed string array of any of the three layouts.
#[derive(Debug, Clone, Copy)]
pub enum StringColumn<'a> {
    /// `Utf8`.
    Utf8(&'a StringArray),
    /// `LargeUtf8`.
    Large(&'a LargeStringArray),
    /// `Utf8View`.
    View(&'a StringViewArray),
}

impl<'a> StringColumn<'a> {
    /// `None` when `array` is not a string array (cast it to `Utf8` first).
    pub fn of(array: &'a ArrayRef) -> Option<Self> {
        let any = array.as_any();
        any.downcast_ref::<StringArray>()
            .map(StringColumn::Utf8)
            .or_else(|| {
                any.downcast_ref::<LargeStringArray>()
                    .map(StringColumn::Large)
            })
            .or_else(|| {
                any.downcast_ref::<StringViewArray>()
                    .map(StringColumn::View)
            })
    }

    /// Rows.
    pub fn len(&self) -> usize {
        match *self {
            StringColumn::Utf8(a) => a.len(),
            StringColumn::Large(a) => a.len(),
            StringColumn::View(a) => a.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The null mask, if any row is null.
    pub fn nulls(&self) -> Option<&'a NullBuffer> {
        match *self {
            StringColumn::Utf8(a) => a.nulls(),
            StringColumn::Large(a) => a.nulls(),
            StringColumn::View(a) => a.nulls(),
        }
    }

    /// Whether row `i` is null.
    #[inline]
    pub fn is_null(&self, i: usize) -> bool {
        match *self {
            StringColumn::Utf8(a) => a.is_null(i),
            StringColumn::Large(a) => a.is_null(i),
            StringColumn::View(a) => a.is_null(i),
        }
    }

    /// Row `i` (whatever it holds when null).
    #[inline]
    pub fn value(&self, i: usize) -> &'a str {
        match *self {
            StringColumn::Utf8(a) => a.value(i),
            StringColumn::Large(a) => a.value(i),
            StringColumn::View(a) => a.value(i),
        }
    }

    /// Row `i`, `""` when null.
    #[inline]
    pub fn value_or_empty(&self, i: usize) -> &'a str {
        if self.is_null(i) { "" } else { self.value(i) }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use deltalake::arrow::array::Int32Array;

    use super::*;

    #[test]
    fn every_layout_reads_the_same() {
        let values = vec![
            Some("a"),
            None,
            Some("a much longer string than twelve bytes"),
        ];
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(values.clone())),
            Arc::new(LargeStringArray::from(values.clone())),
            Arc::new(StringViewArray::from(values.clone())),
        ];
        for array in &arrays {
            let column = StringColumn::of(array).expect("a string layout");
            assert_eq!(column.len(), 3);
            let read: Vec<Option<&str>> = (0..3)
                .map(|i| (!column.is_null(i)).then(|| column.value(i)))
                .collect();
            assert_eq!(read, values);
            assert_eq!(column.value_or_empty(1), "");
            assert_eq!(column.nulls().map(|n| n.null_count()), Some(1));
        }
        let ints: ArrayRef = Arc::new(Int32Array::from(vec![1]));
        assert!(StringColumn::of(&ints).is_none());
    }
}
