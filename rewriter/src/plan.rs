//! Analyses the app module: which imports to redirect, its memory, its stack pointer.
