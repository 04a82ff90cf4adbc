//! wasmscope-lsp: the language server's analysis for `.wat`, `.wast` and
//! `.wasm`, and (next) the server itself.
//!
//! Architecture invariant: `analysis` is plain functions over text or bytes
//! with no protocol in sight; it validates with the engine's own feature set
//! (`wasmscope_engine::supported_features`), so the editor never disagrees
//! with `wasmscope run`. It never panics on any input.

pub mod analysis;
pub mod binary;
pub mod facts;
pub mod features;
pub mod index;
pub mod instructions;
pub mod server;
pub mod syntax;
