//! Rebuilds the name section of the merged module.
