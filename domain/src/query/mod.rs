//! Query strings, parsed once into typed values with DRF's semantics:
//!
//! - [`params`]: the decoded `key=value` pairs (Django's `QueryDict`: the last value wins);
//! - [`pagination`]: `page` / `page_size`, page resolution and the absolute `next`/`previous`;
//! - [`ordering`]: DRF's `OrderingFilter`;
//! - [`search`]: `SearchFilter`'s term splitting;
//! - [`filters`]: the task filters (`done`, `min_due`, `max_due`, `project`);
//! - [`date`]: calendar dates as `YYYY-MM-DD`.

pub mod date;
pub mod filters;
pub mod ordering;
pub mod pagination;
pub mod params;
pub mod search;

pub use date::Date;
pub use filters::TaskFilters;
pub use ordering::{Ordering, SortField, SortKey};
pub use pagination::{Page, PageRequest};
pub use params::QueryParams;
pub use search::search_terms;
