//! Tables: growable arrays of pointer-sized elements.
//!
//! A funcref element is a `*const VMFuncRef` (null for `ref.null`); an
//! externref element is the host's opaque word (0 for null). Like memories,
//! a table keeps a pointer to the `VMTableDefinition` compiled code reads and
//! updates it whenever the storage moves or grows.

use crate::runtime::vmcontext::VMTableDefinition;
use crate::types::{TableType, ValType};

/// A table's storage and its definition.
#[derive(Debug)]
pub(crate) struct Table {
    elements: Vec<usize>,
    max: Option<u32>,
    element: ValType,
    definition: *mut VMTableDefinition,
}

impl Table {
    /// A table of type `ty` with every element set to `init`.
    pub(crate) fn new(ty: &TableType, init: usize) -> Table {
        Table { elements: vec![init; ty.min as usize], max: ty.max, element: ty.element, definition: std::ptr::null_mut() }
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
            // SAFETY: `bind`'s contract keeps the definition valid.
            unsafe {
                (*self.definition).base = self.elements.as_mut_ptr();
                (*self.definition).current_elements = self.elements.len();
            }
        }
    }

    /// The element type.
    pub(crate) fn element_type(&self) -> ValType {
        self.element
    }

    /// The current type (its minimum is the current size).
    pub(crate) fn ty(&self) -> TableType {
        TableType { element: self.element, min: self.elements.len() as u32, max: self.max }
    }

    /// Elements.
    pub(crate) fn elements(&self) -> &[usize] {
        &self.elements
    }

    /// Elements, writable.
    pub(crate) fn elements_mut(&mut self) -> &mut [usize] {
        &mut self.elements
    }

    /// Grows by `delta` elements set to `init`; returns the old size or
    /// `None` when the maximum refuses.
    pub(crate) fn grow(&mut self, delta: u32, init: usize) -> Option<u32> {
        let old = self.elements.len() as u32;
        let new = old.checked_add(delta)?;
        if self.max.is_some_and(|m| new > m) {
            return None;
        }
        self.elements.resize(new as usize, init);
        self.publish();
        Some(old)
    }
}
