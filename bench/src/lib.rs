//! What the bench binary and the bench's own tests share: the soak ([`soak`]), which
//! `bench soak` runs for five minutes and `bench/tests/soak.rs` for thirty seconds.

pub mod soak;
