//! The wasifs filesystem image format (see docs/ARCHITECTURE.md §1): layout, reader, decoder, builder.
#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod block_size;
#[cfg(feature = "build")]
pub mod build;
mod cache_size;
mod chunk_size;
#[cfg(feature = "decode")]
pub mod decode;
mod dictionaries;
pub mod format;
#[cfg(feature = "std")]
pub mod fuzz;
mod level;
pub mod lz4;
mod meta;
pub mod policy;
pub mod reader;
pub mod time;

pub use block_size::{BlockSize, BlockSizeError};
#[cfg(feature = "build")]
pub use build::{
    BuildError, BuildOptions, BuildStats, FileData, ImageBuilder, ImageSink, Meta, MetaMode,
    NodeRef,
};
pub use cache_size::{CacheSize, CacheSizeError};
pub use chunk_size::{Access, ChunkSize, ChunkSizeError};
#[cfg(feature = "decode")]
pub use decode::{decompress, Decoder};
pub use dictionaries::{Dictionaries, DictionariesError};
pub use format::FormatError;
pub use level::{Level, LevelError};
pub use reader::{Image, Source};
