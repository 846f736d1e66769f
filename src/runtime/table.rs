//! Tables: growable arrays of pointer-sized elements.
//!
//! An externref element is the host's opaque word, 0 for null. A funcref
//! element is stored *encoded*, so a table need not be written when it is
//! created:
//!
//! ```text
//!   0            not materialized yet: the element's initial value comes from
//!                the table's lazy-init source (or is null when it has none)
//!   ptr | 1      a materialized reference (`*const VMFuncRef`, null is 1)
//! ```
//!
//! A module whose element segments are all constant gets, per defined
//! funcref table, a precomputed list of initial function indices; its
//! instances leave the table untouched at instantiation and materialize an
//! element the first time compiled code (or the host) reads it. A fresh or
//! reset pool slot is all zeros, so instantiating such a table costs nothing.
//! Like memories, a table keeps a pointer to the `VMTableDefinition` compiled
//! code reads and updates it whenever the storage moves or grows.

use crate::error::{Error, ErrorKind, Result};
use crate::runtime::builtins::MAX_TABLE_LIMIT;
use crate::runtime::vmcontext::VMTableDefinition;
use crate::types::{TableType, ValType};
use std::sync::Arc;

/// Where a table's elements live.
#[derive(Debug)]
enum Storage {
    /// A growable vector (on-demand tables).
    Vec(Vec<usize>),
    /// A fixed-capacity pool slot.
    Slot { ptr: *mut usize, len: usize, capacity: usize },
}

/// The initial contents of a lazily initialized funcref table: the function
/// index of each element (`u32::MAX` for null), resolved against the owning
/// instance's function references.
#[derive(Debug, Clone)]
pub(crate) struct LazyInit {
    pub funcs: Arc<[u32]>,
    /// Address of the owning instance's `funcrefs[0]`.
    pub funcrefs: *const u8,
}

/// Marks a materialized funcref element.
const MATERIALIZED: usize = 1;

/// A table's storage and its definition.
#[derive(Debug)]
pub(crate) struct Table {
    storage: Storage,
    /// The maximum the table's type declares (what `ty` reports).
    declared_max: Option<u32>,
    /// The most elements growth may reach: the declared maximum, capped by
    /// the pool's `table_elements` or the engine's `max_table_elements`.
    limit: u32,
    element: ValType,
    definition: *mut VMTableDefinition,
    lazy: Option<LazyInit>,
    /// The element indices `materialize` has written, as a half-open range
    /// (empty when `start >= end`).
    materialized: std::ops::Range<usize>,
}

impl Table {
    /// A table of type `ty` with every element set to `init` (decoded form),
    /// which may never hold more than `limit` elements. A `Limit` error when
    /// the minimum exceeds `limit`, a `Resource` error when the elements
    /// cannot be allocated: never an abort.
    pub(crate) fn new(ty: &TableType, init: usize, limit: u32) -> Result<Table> {
        let mut table = Table::new_unmaterialized(ty, limit)?;
        let encoded = encode(ty.element, init);
        if encoded != 0 {
            table.raw_mut().fill(encoded);
        }
        Ok(table)
    }

    /// A table of type `ty` whose elements are all zero: null, or (for a
    /// funcref table given a lazy-init source) not yet materialized. Fails
    /// as [`Table::new`] does.
    pub(crate) fn new_unmaterialized(ty: &TableType, limit: u32) -> Result<Table> {
        let limit = limit.min(MAX_TABLE_LIMIT);
        if ty.min > limit {
            return Err(Error::new(
                ErrorKind::Limit,
                format!(
                    "a table of {} elements exceeds the limit of {limit} elements \
                     (max_table_elements)",
                    ty.min
                ),
            ));
        }
        let elements = try_zeroed_vec(ty.min as usize).ok_or_else(|| {
            Error::new(
                ErrorKind::Resource,
                format!("cannot allocate a table of {} elements", ty.min),
            )
        })?;
        Ok(Table {
            storage: Storage::Vec(elements),
            declared_max: ty.max,
            limit: ty.max.map_or(limit, |m| m.min(limit)),
            element: ty.element,
            definition: std::ptr::null_mut(),
            lazy: None,
            materialized: 0..0,
        })
    }

    /// A table of type `ty` in a pool slot of `capacity` elements at `ptr`,
    /// whose elements are all zero (null, or not yet materialized), and which
    /// may grow to `table_elements` (the pool's knob, at most `capacity`).
    ///
    /// # Safety
    /// The slot must be readable and writable and owned by the table for its
    /// lifetime.
    pub(crate) unsafe fn in_slot(
        ptr: *mut usize,
        capacity: usize,
        table_elements: usize,
        ty: &TableType,
    ) -> Table {
        let pool_limit = table_elements.min(capacity).min(MAX_TABLE_LIMIT as usize) as u32;
        Table {
            storage: Storage::Slot { ptr, len: ty.min as usize, capacity },
            declared_max: ty.max,
            limit: ty.max.map_or(pool_limit, |m| m.min(pool_limit)),
            element: ty.element,
            definition: std::ptr::null_mut(),
            lazy: None,
            materialized: 0..0,
        }
    }

    /// Gives a funcref table its lazy-init source (at instantiation, before
    /// any element is read).
    pub(crate) fn set_lazy_init(&mut self, lazy: LazyInit) {
        debug_assert_eq!(self.element, ValType::FuncRef);
        self.lazy = Some(lazy);
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
            let elements = self.raw_mut();
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

    /// The current type: its minimum is the current size, its maximum the
    /// declared one (whatever caps growth beyond it).
    pub(crate) fn ty(&self) -> TableType {
        TableType { element: self.element, min: self.len() as u32, max: self.declared_max }
    }

    /// The declared maximum, for a resource limiter's information.
    pub(crate) fn declared_max(&self) -> Option<u32> {
        self.declared_max
    }

    /// Current number of elements.
    pub(crate) fn len(&self) -> usize {
        match &self.storage {
            Storage::Vec(v) => v.len(),
            Storage::Slot { len, .. } => *len,
        }
    }

    /// The encoded elements.
    fn raw_mut(&mut self) -> &mut [usize] {
        match &mut self.storage {
            Storage::Vec(v) => v,
            // SAFETY: `in_slot`'s contract: `len <= capacity` elements are ours.
            Storage::Slot { ptr, len, .. } => unsafe { std::slice::from_raw_parts_mut(*ptr, *len) },
        }
    }

    /// The encoded elements, read-only.
    fn raw(&self) -> &[usize] {
        match &self.storage {
            Storage::Vec(v) => v,
            // SAFETY: `in_slot`'s contract: `len <= capacity` elements are ours.
            Storage::Slot { ptr, len, .. } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
        }
    }

    /// Element `i` in decoded form (a `*const VMFuncRef` or the externref
    /// word; 0 for null); `None` out of bounds. An element not materialized
    /// yet is read from the lazy-init source without being written, so a
    /// shared borrow of the table is enough.
    pub(crate) fn get(&self, i: usize) -> Option<usize> {
        let raw = *self.raw().get(i)?;
        Some(match self.element {
            ValType::FuncRef if raw == 0 => self.lazy_funcref(i),
            ValType::FuncRef => raw & !MATERIALIZED,
            _ => raw,
        })
    }

    /// Materializes element `i` from the lazy-init source and returns its
    /// encoded value. `i` must be in bounds.
    pub(crate) fn materialize(&mut self, i: usize) -> usize {
        let encoded = self.lazy_funcref(i) | MATERIALIZED;
        self.raw_mut()[i] = encoded;
        self.materialized = if self.materialized.is_empty() {
            i..i + 1
        } else {
            self.materialized.start.min(i)..self.materialized.end.max(i + 1)
        };
        encoded
    }

    /// Element `i`'s initial function reference from the lazy-init source
    /// (decoded; 0 for null or when the table has no such source).
    fn lazy_funcref(&self, i: usize) -> usize {
        match &self.lazy {
            Some(lazy) => match lazy.funcs.get(i) {
                Some(&f) if f != u32::MAX => {
                    // SAFETY: `funcrefs` points at the owning instance's array
                    // of function references, which holds function `f`.
                    unsafe {
                        lazy.funcrefs
                            .add(f as usize * crate::runtime::vmcontext::FUNCREF_SIZE as usize)
                            as usize
                    }
                }
                _ => 0,
            },
            None => 0,
        }
    }

    /// The span of element indices `materialize` has written since the
    /// table was created.
    pub(crate) fn materialized(&self) -> std::ops::Range<usize> {
        self.materialized.clone()
    }

    /// Sets element `i` (decoded form); `None` out of bounds.
    pub(crate) fn set(&mut self, i: usize, value: usize) -> Option<()> {
        let encoded = encode(self.element, value);
        *self.raw_mut().get_mut(i)? = encoded;
        Some(())
    }

    /// Sets `len` elements from `dst` to `value` (decoded form); `None` out of bounds.
    pub(crate) fn fill(&mut self, dst: usize, value: usize, len: usize) -> Option<()> {
        let encoded = encode(self.element, value);
        let end = dst.checked_add(len)?;
        self.raw_mut().get_mut(dst..end)?.fill(encoded);
        Some(())
    }

    /// Grows by `delta` elements set to `init` (decoded form); returns the
    /// old size, or `None` when the limit refuses or the elements cannot be
    /// allocated (never an abort).
    pub(crate) fn grow(&mut self, delta: u32, init: usize) -> Option<u32> {
        let old = self.len() as u32;
        let new = old.checked_add(delta)?;
        if new > self.limit {
            return None;
        }
        let encoded = encode(self.element, init);
        match &mut self.storage {
            Storage::Vec(v) => try_grow_vec(v, new as usize, encoded)?,
            Storage::Slot { len, capacity, .. } => {
                if new as usize > *capacity {
                    return None;
                }
                *len = new as usize;
                self.raw_mut()[old as usize..].fill(encoded);
            }
        }
        self.publish();
        Some(old)
    }

    /// Copies `len` elements from `src` of `from` (the same table when
    /// `from` is `None`) to `dst`; `None` when either range is out of bounds.
    pub(crate) fn copy(
        &mut self,
        dst: usize,
        from: Option<&mut Table>,
        src: usize,
        len: usize,
    ) -> Option<()> {
        let src_len = from.as_ref().map_or(self.len(), |t| t.len());
        if dst.checked_add(len)? > self.len() || src.checked_add(len)? > src_len {
            return None;
        }
        match from {
            None => {
                // Materialize the source range first so raw copies keep their meaning.
                for i in src..src + len {
                    let v = self.get(i)?;
                    self.raw_mut()[i] = encode(self.element, v);
                }
                self.raw_mut().copy_within(src..src + len, dst);
            }
            Some(other) => {
                for k in 0..len {
                    let v = other.get(src + k)?;
                    self.set(dst + k, v)?;
                }
            }
        }
        Some(())
    }
}

/// Resizes `v` to `len` elements, filling new ones with `value`; `None`
/// (and `v` unchanged) when the memory cannot be allocated.
fn try_grow_vec(v: &mut Vec<usize>, len: usize, value: usize) -> Option<()> {
    v.try_reserve_exact(len.saturating_sub(v.len())).ok()?;
    v.resize(len, value);
    Some(())
}

/// A vector of `len` zeros, allocated zeroed (fresh pages from the OS need
/// no writing); `None` when the memory cannot be allocated.
fn try_zeroed_vec(len: usize) -> Option<Vec<usize>> {
    if len == 0 {
        return Some(Vec::new());
    }
    let layout = std::alloc::Layout::array::<usize>(len).ok()?;
    // SAFETY: `layout` has a non-zero size.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) } as *mut usize;
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `ptr` was allocated by the global allocator with the layout of
    // `len` `usize`s, all initialized (to zero), so it is a valid vector of
    // length and capacity `len`.
    Some(unsafe { Vec::from_raw_parts(ptr, len, len) })
}

/// The stored form of a decoded element value.
fn encode(element: ValType, value: usize) -> usize {
    match element {
        ValType::FuncRef => value | MATERIALIZED,
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn funcref_elements_are_encoded_and_lazily_materialized() {
        let ty = TableType { element: ValType::FuncRef, min: 4, max: None };
        let funcrefs = [0u8; 64];
        let mut slot = vec![0usize; 8];
        // SAFETY: `slot` outlives the table in this test.
        let mut t = unsafe { Table::in_slot(slot.as_mut_ptr(), 8, 8, &ty) };
        t.set_lazy_init(LazyInit {
            funcs: Arc::from(vec![1, u32::MAX, 0, 1]),
            funcrefs: funcrefs.as_ptr(),
        });
        let base = funcrefs.as_ptr() as usize;
        assert_eq!(t.get(0), Some(base + 32));
        assert_eq!(t.get(1), Some(0), "null");
        assert_eq!(t.get(2), Some(base));
        assert_eq!(slot[0], 0, "a read does not write the table");
        assert_eq!(t.materialize(0), (base + 32) | 1);
        assert_eq!(slot[0], (base + 32) | 1, "materialized by compiled code's read");
        assert_eq!(t.materialized(), 0..1);
        assert_eq!(t.get(0), Some(base + 32), "a materialized element reads the same");
        t.set(3, 0).unwrap();
        assert_eq!(t.get(3), Some(0), "explicit null overrides the initial value");
        assert_eq!(t.grow(2, base).unwrap(), 4);
        assert_eq!(t.get(5), Some(base));
        assert_eq!(t.get(6), None);
    }

    #[test]
    fn externref_elements_are_stored_as_they_are() {
        let ty = TableType { element: ValType::ExternRef, min: 2, max: Some(3) };
        let mut t = Table::new(&ty, 7, 100).unwrap();
        assert_eq!(t.get(1), Some(7));
        assert_eq!(t.grow(2, 0), None, "beyond the maximum");
        t.fill(0, 9, 2).unwrap();
        assert_eq!((t.get(0), t.get(1)), (Some(9), Some(9)));
    }

    #[test]
    fn growth_stops_at_the_limit_and_the_type_keeps_its_declared_maximum() {
        let ty = TableType { element: ValType::ExternRef, min: 1, max: None };
        let mut t = Table::new(&ty, 0, 100).unwrap();
        assert_eq!(t.grow(99, 0), Some(1));
        assert_eq!(t.grow(1, 0), None, "100 is the limit");
        assert_eq!(t.ty().max, None);
        let mut slot = vec![0usize; 512];
        // SAFETY: `slot` outlives the table in this test.
        let mut t = unsafe { Table::in_slot(slot.as_mut_ptr(), 512, 100, &ty) };
        assert_eq!(t.grow(99, 0), Some(1));
        assert_eq!(t.grow(1, 0), None, "table_elements, not the slot's capacity");
        assert_eq!(t.ty(), TableType { element: ValType::ExternRef, min: 100, max: None });
        let big = TableType { element: ValType::FuncRef, min: u32::MAX, max: None };
        assert_eq!(Table::new(&big, 0, 1000).unwrap_err().kind(), ErrorKind::Limit);
    }
}
