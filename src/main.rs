//! The `p1ib` command. STUB.
fn main() {}
