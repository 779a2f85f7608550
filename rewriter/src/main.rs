//! The `wasifs` command line: a thin clap front-end over the `wasifs` library.
fn main() {}
