//! Shared harness for the end-to-end tests: run modules under wasmtime with captured stdio.
