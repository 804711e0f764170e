//! Workers glue (filled in below).
