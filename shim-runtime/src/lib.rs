//! wasifs shim: serves the fd- and path-taking WASI preview1 calls from an embedded image and a
//! writable in-memory layer over it.
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

pub mod args;
pub mod cache;
pub mod fallible;
pub mod fdtable;
pub mod file;
pub mod fixed_sleep;
pub mod host;
pub mod mem;
pub mod mutate;
pub mod overlay;
pub mod path;
pub mod policy;
pub mod poll;
pub mod preopens;
pub mod query;
pub mod trace;
pub mod vfs;
pub mod wasi;

#[cfg(test)]
mod enomem_tests;
#[cfg(target_arch = "wasm32")]
mod ffi;
#[cfg(target_arch = "wasm32")]
mod heap;
#[cfg(test)]
mod path_fuzz;
#[cfg(test)]
mod tests;
