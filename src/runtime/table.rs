//! Tables: growable arrays of pointer-sized elements.
//!
//! A funcref element is a `*const VMFuncRef` (null for `ref.null`); an
//! externref element is the host's opaque word (0 for null). Like memories,
//! a table keeps a pointer to the `VMTableDefinition` compiled code reads and
//! updates it whenever the storage moves or grows.

use crate::runtime::vmcontext::VMTableDefinition;
use crate::types::{TableType, ValType};

/// Where a table's elements live.
#[derive(Debug)]
enum Storage {
    /// A growable vector (on-demand tables).
    Vec(Vec<usize>),
    /// A fixed-capacity pool slot.
    Slot { ptr: *mut usize, len: usize, capacity: usize },
}

/// A table's storage and its definition.
#[derive(Debug)]
pub(crate) struct Table {
    storage: Storage,
    max: Option<u32>,
    element: ValType,
    definition: *mut VMTableDefinition,
}

impl Table {
    /// A table of type `ty` with every element set to `init`.
    pub(crate) fn new(ty: &TableType, init: usize) -> Table {
        Table { storage: Storage::Vec(vec![init; ty.min as usize]), max: ty.max, element: ty.element, definition: std::ptr::null_mut() }
    }

    /// A table of type `ty` in a pool slot of `capacity` elements at `ptr`,
    /// whose first `ty.min` elements the caller has set to null.
    ///
    /// # Safety
    /// The slot must be readable and writable and owned by the table for its
    /// lifetime.
    pub(crate) unsafe fn in_slot(ptr: *mut usize, capacity: usize, ty: &TableType) -> Table {
        let max = Some(ty.max.map_or(capacity as u32, |m| m.min(capacity as u32)));
        Table { storage: Storage::Slot { ptr, len: ty.min as usize, capacity }, max, element: ty.element, definition: std::ptr::null_mut() }
    }

    /// Connects the table to the definition compiled code reads, and fills it.
    ///
    /// # Safety
    /// `definition` must stay valid for as long as this table is used.
    pub(crate) unsafe fn bind(&mut self, definition: *mut VMTableDefinition) {
        self.definition = definition;
        self.publish();
    }

    fn publish(&mut self) {
        if !self.definition.is_null() {
            let elements = self.elements_mut();
            let (base, len) = (elements.as_mut_ptr(), elements.len());
            // SAFETY: `bind`'s contract keeps the definition valid.
            unsafe {
                (*self.definition).base = base;
                (*self.definition).current_elements = len;
            }
        }
    }

    /// The element type.
    pub(crate) fn element_type(&self) -> ValType {
        self.element
    }

    /// The current type (its minimum is the current size).
    pub(crate) fn ty(&self) -> TableType {
        TableType { element: self.element, min: self.elements().len() as u32, max: self.max }
    }

    /// Elements.
    pub(crate) fn elements(&self) -> &[usize] {
        match &self.storage {
            Storage::Vec(v) => v,
            // SAFETY: `in_slot`'s contract: `len <= capacity` elements are ours.
            Storage::Slot { ptr, len, .. } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
        }
    }

    /// Elements, writable.
    pub(crate) fn elements_mut(&mut self) -> &mut [usize] {
        match &mut self.storage {
            Storage::Vec(v) => v,
            // SAFETY: as in `elements`, borrowed mutably.
            Storage::Slot { ptr, len, .. } => unsafe { std::slice::from_raw_parts_mut(*ptr, *len) },
        }
    }

    /// Grows by `delta` elements set to `init`; returns the old size or
    /// `None` when the maximum refuses.
    pub(crate) fn grow(&mut self, delta: u32, init: usize) -> Option<u32> {
        let old = self.elements().len() as u32;
        let new = old.checked_add(delta)?;
        if self.max.is_some_and(|m| new > m) {
            return None;
        }
        match &mut self.storage {
            Storage::Vec(v) => v.resize(new as usize, init),
            Storage::Slot { len, capacity, .. } => {
                if new as usize > *capacity {
                    return None;
                }
                *len = new as usize;
                self.elements_mut()[old as usize..].fill(init);
            }
        }
        self.publish();
        Some(old)
    }
}
