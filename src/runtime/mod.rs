//! The runtime: what compiled code runs against. The VMContext layout
//! ([`vmcontext`]), instances ([`instance`]), linear memories ([`memory`]),
//! tables ([`table`]), host-function contexts ([`host`]), the builtins
//! compiled code calls ([`builtins`], [`libcalls`]), trap handling
//! ([`traps`]) and resumable calls on stacks of their own ([`fiber`]).

pub(crate) mod builtins;
pub(crate) mod fiber;
pub(crate) mod host;
pub(crate) mod instance;
pub(crate) mod libcalls;
pub(crate) mod memory;
pub(crate) mod table;
pub(crate) mod traps;
pub(crate) mod vmcontext;
