//! The wasifs filesystem image format (see docs/ARCHITECTURE.md §1).
#![no_std]
