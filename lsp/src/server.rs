//! The language server: protocol glue only. Documents live in a store; each
//! change runs `analysis` off the async executor (under `catch_unwind`, so a
//! bug costs one answer, not the server) and publishes diagnostics.
//!
//! Positions: LSP's default UTF-16 code units, converted in `position` and
//! `offset` and nowhere else.

use crate::analysis::{self, Diagnostic, Severity, SourceKind};
use crate::features::{self, Analysis, CompletionKind, Symbol, TokenClass};
use crate::index::Space;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types as lsp;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

struct Document {
    text: Arc<String>,
    version: i32,
    kind: SourceKind,
}

type Docs = Arc<Mutex<HashMap<String, Document>>>;

pub struct Backend {
    client: Client,
    docs: Docs,
}

/// Navigation and highlighting stop above this size (diagnostics do not):
/// a huge generated file must not take the server's memory with it.
const MAX_FEATURE_BYTES: usize = analysis::LINT_MAX_BYTES;

/// Quiet time after an edit before diagnostics are recomputed.
const DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(10);

/// Byte offset of an LSP position (UTF-16) in `text`; clamps past the end.
pub fn offset(text: &str, pos: lsp::Position) -> usize {
    let mut line_start = 0;
    for _ in 0..pos.line {
        match text[line_start..].find('\n') {
            Some(i) => line_start += i + 1,
            None => return text.len(),
        }
    }
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let mut units = 0;
    for (i, c) in text[line_start..line_end].char_indices() {
        if units >= pos.character {
            return line_start + i;
        }
        units += c.len_utf16() as u32;
    }
    line_end
}

/// Byte offsets to LSP positions, for many conversions over one text.
pub struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub fn new(text: &'a str) -> Lines<'a> {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines { text, starts }
    }

    pub fn position(&self, offset: usize) -> lsp::Position {
        let offset = offset.min(self.text.len());
        let offset = (0..=offset)
            .rev()
            .find(|o| self.text.is_char_boundary(*o))
            .unwrap_or(0);
        let line = self.starts.partition_point(|s| *s <= offset) - 1;
        let before = &self.text[self.starts[line]..offset];
        let character = if before.is_ascii() {
            before.len() as u32
        } else {
            before.chars().map(|c| c.len_utf16() as u32).sum()
        };
        lsp::Position {
            line: line as u32,
            character,
        }
    }

    pub fn range(&self, r: &std::ops::Range<usize>) -> lsp::Range {
        lsp::Range {
            start: self.position(r.start),
            end: self.position(r.end),
        }
    }
}

/// LSP position (UTF-16) of a byte offset in `text`.
pub fn position(text: &str, offset: usize) -> lsp::Position {
    Lines::new(text).position(offset)
}

fn kind_of(uri: &str, text: &str) -> SourceKind {
    // Virtual documents of disassembled binaries are text.
    if uri.starts_with(DISASSEMBLY_SCHEME) {
        return SourceKind::Wat;
    }
    SourceKind::detect(Path::new(uri), text.as_bytes())
}

/// URI scheme of the `.wat` text of a binary module.
pub const DISASSEMBLY_SCHEME: &str = "wasmscope-wasm:";

fn to_lsp(lines: &Lines, d: &Diagnostic) -> lsp::Diagnostic {
    lsp::Diagnostic {
        range: lines.range(&d.range),
        severity: Some(match d.severity {
            Severity::Error => lsp::DiagnosticSeverity::ERROR,
            Severity::Warning => lsp::DiagnosticSeverity::WARNING,
        }),
        source: Some("wasmscope".into()),
        message: d.message.clone(),
        ..Default::default()
    }
}

fn lock(docs: &Docs) -> std::sync::MutexGuard<'_, HashMap<String, Document>> {
    docs.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` on the blocking pool under `catch_unwind`: a slow analysis
/// never stalls the protocol, a bug costs one answer.
async fn off_loop<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let result = tokio::task::spawn_blocking(move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
    })
    .await;
    match result {
        Ok(Ok(v)) => Some(v),
        _ => None,
    }
}

/// Diagnostics of the document as it is now; skipped if it changed again
/// meanwhile (a newer task will publish).
async fn publish(client: Client, docs: Docs, uri: lsp::Uri) {
    let key = uri.as_str().to_string();
    let Some((text, version, kind)) = lock(&docs)
        .get(&key)
        .map(|d| (d.text.clone(), d.version, d.kind))
    else {
        return;
    };
    let file = uri.to_file_path().map(|p| p.into_owned());
    let diagnostics = off_loop(move || {
        let binary_on_disk = match (kind, file) {
            // A binary opened as text arrives mangled: read the real bytes.
            (SourceKind::Wasm, Some(path)) => std::fs::read(path).ok(),
            _ => None,
        };
        match binary_on_disk {
            Some(bytes) => analysis::check(SourceKind::Wasm, &bytes)
                .iter()
                .map(|d| lsp::Diagnostic {
                    message: format!(
                        "{} (at byte {:#x}; open the disassembly to see it in context)",
                        d.message, d.range.start
                    ),
                    severity: Some(lsp::DiagnosticSeverity::ERROR),
                    source: Some("wasmscope".into()),
                    ..Default::default()
                })
                .collect(),
            None => {
                let lines = Lines::new(&text);
                analysis::check(kind, text.as_bytes())
                    .iter()
                    .map(|d| to_lsp(&lines, d))
                    .collect()
            }
        }
    })
    .await
    .unwrap_or_else(|| {
        vec![lsp::Diagnostic {
            message: "wasmscope could not analyse this file (internal error)".into(),
            severity: Some(lsp::DiagnosticSeverity::WARNING),
            ..Default::default()
        }]
    });
    if lock(&docs).get(&key).map(|d| d.version) != Some(version) {
        return;
    }
    client
        .publish_diagnostics(uri, diagnostics, Some(version))
        .await;
}

/// Token types of the semantic tokens legend, indexed by `TokenClass`.
fn token_legend() -> Vec<lsp::SemanticTokenType> {
    use lsp::SemanticTokenType as T;
    vec![
        T::KEYWORD,
        T::OPERATOR,
        T::TYPE,
        T::FUNCTION,
        T::PARAMETER,
        T::VARIABLE,
        T::NAMESPACE,
        T::NUMBER,
        T::STRING,
        T::COMMENT,
    ]
}

fn token_type(c: TokenClass) -> (u32, u32) {
    // (type, modifiers): globals are variables with the `static` modifier.
    match c {
        TokenClass::Keyword => (0, 0),
        TokenClass::Instruction => (1, 0),
        TokenClass::Type | TokenClass::TypeName => (2, 0),
        TokenClass::Function => (3, 0),
        TokenClass::Parameter => (4, 0),
        TokenClass::Variable | TokenClass::Other => (5, 0),
        TokenClass::Global => (5, 1),
        TokenClass::Label => (6, 0),
        TokenClass::Number => (7, 0),
        TokenClass::String => (8, 0),
        TokenClass::Comment => (9, 0),
    }
}

fn symbol_kind(space: Space) -> lsp::SymbolKind {
    match space {
        Space::Func => lsp::SymbolKind::FUNCTION,
        Space::Table => lsp::SymbolKind::ARRAY,
        Space::Memory => lsp::SymbolKind::MODULE,
        Space::Global => lsp::SymbolKind::VARIABLE,
        Space::Type => lsp::SymbolKind::INTERFACE,
        Space::Elem | Space::Data => lsp::SymbolKind::CONSTANT,
        Space::Tag => lsp::SymbolKind::EVENT,
        Space::Local => lsp::SymbolKind::VARIABLE,
        Space::Label => lsp::SymbolKind::KEY,
    }
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must still be written
fn to_symbol(lines: &Lines, s: &Symbol) -> lsp::DocumentSymbol {
    lsp::DocumentSymbol {
        name: if s.name.is_empty() {
            "_".into()
        } else {
            s.name.clone()
        },
        detail: Some(s.detail.clone()),
        kind: if s.detail == "module" {
            lsp::SymbolKind::MODULE
        } else {
            symbol_kind(s.space)
        },
        tags: None,
        deprecated: None,
        range: lines.range(&s.range),
        selection_range: lines.range(&s.selection),
        children: Some(s.children.iter().map(|c| to_symbol(lines, c)).collect()),
    }
}

/// Parameters of `wasmscope/disassemble`.
#[derive(serde::Deserialize)]
pub struct DisassembleParams {
    /// A `file:` URI of a binary module.
    pub uri: lsp::Uri,
}

/// Result of `wasmscope/disassemble`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DisassembleResult {
    /// The `wasmscope-wasm:` URI the text is served under.
    pub uri: String,
    pub text: String,
    pub functions: Vec<FunctionSourceJson>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionSourceJson {
    pub line: u32,
    pub name: Option<String>,
    pub file: String,
    pub source_line: u32,
}

impl Backend {
    /// A snapshot of a document: its text and kind.
    fn doc(&self, uri: &lsp::Uri) -> Option<(Arc<String>, SourceKind)> {
        lock(&self.docs)
            .get(uri.as_str())
            .map(|d| (d.text.clone(), d.kind))
    }

    /// Runs a feature over a document's analysis off the event loop.
    /// `Full` computes stack facts too; `.wast` scripts never get them.
    async fn with_analysis<T: Send + 'static>(
        &self,
        uri: &lsp::Uri,
        depth: Depth,
        f: impl FnOnce(&Analysis, &Lines) -> T + Send + 'static,
    ) -> Option<T> {
        let (text, kind) = self.doc(uri)?;
        if text.len() > MAX_FEATURE_BYTES {
            return None;
        }
        off_loop(move || {
            let a = match (depth, kind) {
                (Depth::Full, SourceKind::Wat) => Analysis::new(&text),
                _ => Analysis::syntax_only(&text),
            };
            let lines = Lines::new(&text);
            f(&a, &lines)
        })
        .await
    }

    fn schedule(&self, uri: lsp::Uri, debounce: bool) {
        let client = self.client.clone();
        let docs = self.docs.clone();
        tokio::spawn(async move {
            if debounce {
                tokio::time::sleep(DEBOUNCE).await;
            }
            publish(client, docs, uri).await;
        });
    }

    async fn disassemble(&self, params: DisassembleParams) -> Result<DisassembleResult> {
        let Some(path) = params.uri.to_file_path().map(|p| p.into_owned()) else {
            return Err(tower_lsp_server::jsonrpc::Error::invalid_params(
                "expected a file: URI",
            ));
        };
        let bytes = std::fs::read(&path).map_err(|e| {
            tower_lsp_server::jsonrpc::Error::invalid_params(format!("{}: {e}", path.display()))
        })?;
        let d = off_loop(move || crate::binary::disassemble(&bytes))
            .await
            .ok_or_else(tower_lsp_server::jsonrpc::Error::internal_error)?;
        let uri = format!("{DISASSEMBLY_SCHEME}{}.wat", path.display());
        let lines = Lines::new(&d.text);
        let diagnostics: Vec<lsp::Diagnostic> =
            d.diagnostics.iter().map(|x| to_lsp(&lines, x)).collect();
        lock(&self.docs).insert(
            uri.clone(),
            Document {
                text: Arc::new(d.text.clone()),
                version: 0,
                kind: SourceKind::Wat,
            },
        );
        if let Ok(u) = uri.parse::<lsp::Uri>() {
            self.client.publish_diagnostics(u, diagnostics, None).await;
        }
        Ok(DisassembleResult {
            uri,
            text: d.text,
            functions: d
                .functions
                .into_iter()
                .map(|f| FunctionSourceJson {
                    line: f.line,
                    name: f.name,
                    file: f.file,
                    source_line: f.source_line,
                })
                .collect(),
        })
    }
}

#[derive(Clone, Copy)]
enum Depth {
    Syntax,
    Full,
}

fn at(params: &lsp::TextDocumentPositionParams) -> (&lsp::Uri, lsp::Position) {
    (&params.text_document.uri, params.position)
}

impl LanguageServer for Backend {
    async fn initialize(&self, _: lsp::InitializeParams) -> Result<lsp::InitializeResult> {
        Ok(lsp::InitializeResult {
            capabilities: lsp::ServerCapabilities {
                text_document_sync: Some(lsp::TextDocumentSyncCapability::Options(
                    lsp::TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(lsp::TextDocumentSyncKind::INCREMENTAL),
                        save: Some(lsp::TextDocumentSyncSaveOptions::Supported(true)),
                        ..Default::default()
                    },
                )),
                hover_provider: Some(lsp::HoverProviderCapability::Simple(true)),
                definition_provider: Some(lsp::OneOf::Left(true)),
                references_provider: Some(lsp::OneOf::Left(true)),
                rename_provider: Some(lsp::OneOf::Right(lsp::RenameOptions {
                    prepare_provider: Some(true),
                    work_done_progress_options: Default::default(),
                })),
                completion_provider: Some(lsp::CompletionOptions {
                    trigger_characters: Some(vec!["$".into(), "(".into()]),
                    ..Default::default()
                }),
                document_symbol_provider: Some(lsp::OneOf::Left(true)),
                semantic_tokens_provider: Some(
                    lsp::SemanticTokensServerCapabilities::SemanticTokensOptions(
                        lsp::SemanticTokensOptions {
                            legend: lsp::SemanticTokensLegend {
                                token_types: token_legend(),
                                token_modifiers: vec![lsp::SemanticTokenModifier::STATIC],
                            },
                            full: Some(lsp::SemanticTokensFullOptions::Bool(true)),
                            ..Default::default()
                        },
                    ),
                ),
                folding_range_provider: Some(lsp::FoldingRangeProviderCapability::Simple(true)),
                document_formatting_provider: Some(lsp::OneOf::Left(true)),
                code_lens_provider: Some(lsp::CodeLensOptions {
                    resolve_provider: Some(false),
                }),
                inlay_hint_provider: Some(lsp::OneOf::Left(true)),
                ..Default::default()
            },
            server_info: Some(lsp::ServerInfo {
                name: "wasmscope".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            ..Default::default()
        })
    }

    async fn shutdown(&self) -> Result<()> {
        SHUTDOWN_REQUESTED.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    async fn did_open(&self, params: lsp::DidOpenTextDocumentParams) {
        let doc = params.text_document;
        let kind = kind_of(doc.uri.as_str(), &doc.text);
        lock(&self.docs).insert(
            doc.uri.as_str().to_string(),
            Document {
                text: Arc::new(doc.text),
                version: doc.version,
                kind,
            },
        );
        self.schedule(doc.uri, false);
    }

    async fn did_change(&self, params: lsp::DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        {
            let mut docs = lock(&self.docs);
            let Some(doc) = docs.get_mut(uri.as_str()) else {
                return;
            };
            let text = Arc::make_mut(&mut doc.text);
            for change in params.content_changes {
                match change.range {
                    Some(range) => {
                        let start = offset(text, range.start);
                        let end = offset(text, range.end).max(start);
                        text.replace_range(start..end, &change.text);
                    }
                    None => *text = change.text,
                }
            }
            doc.version = params.text_document.version;
        }
        self.schedule(uri, true);
    }

    async fn did_save(&self, params: lsp::DidSaveTextDocumentParams) {
        self.schedule(params.text_document.uri, false);
    }

    async fn did_close(&self, params: lsp::DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        lock(&self.docs).remove(uri.as_str());
        self.client.publish_diagnostics(uri, Vec::new(), None).await;
    }

    async fn hover(&self, params: lsp::HoverParams) -> Result<Option<lsp::Hover>> {
        let (uri, pos) = at(&params.text_document_position_params);
        Ok(self
            .with_analysis(uri, Depth::Full, move |a, lines| {
                let h = features::hover(a, offset(a.tree.text, pos))?;
                Some(lsp::Hover {
                    contents: lsp::HoverContents::Markup(lsp::MarkupContent {
                        kind: lsp::MarkupKind::Markdown,
                        value: h.markdown,
                    }),
                    range: Some(lines.range(&h.range)),
                })
            })
            .await
            .flatten())
    }

    async fn goto_definition(
        &self,
        params: lsp::GotoDefinitionParams,
    ) -> Result<Option<lsp::GotoDefinitionResponse>> {
        let (uri, pos) = at(&params.text_document_position_params);
        let target = uri.clone();
        Ok(self
            .with_analysis(uri, Depth::Syntax, move |a, lines| {
                let r = features::definition(a, offset(a.tree.text, pos))?;
                Some(lsp::GotoDefinitionResponse::Scalar(lsp::Location {
                    uri: target,
                    range: lines.range(&r),
                }))
            })
            .await
            .flatten())
    }

    async fn references(&self, params: lsp::ReferenceParams) -> Result<Option<Vec<lsp::Location>>> {
        let (uri, pos) = at(&params.text_document_position);
        let with_decl = params.context.include_declaration;
        let target = uri.clone();
        Ok(self
            .with_analysis(uri, Depth::Syntax, move |a, lines| {
                features::references(a, offset(a.tree.text, pos), with_decl)
                    .iter()
                    .map(|r| lsp::Location {
                        uri: target.clone(),
                        range: lines.range(r),
                    })
                    .collect()
            })
            .await)
    }

    async fn prepare_rename(
        &self,
        params: lsp::TextDocumentPositionParams,
    ) -> Result<Option<lsp::PrepareRenameResponse>> {
        let (uri, pos) = at(&params);
        Ok(self
            .with_analysis(uri, Depth::Syntax, move |a, lines| {
                let r = features::prepare_rename(a, offset(a.tree.text, pos))?;
                Some(lsp::PrepareRenameResponse::Range(lines.range(&r)))
            })
            .await
            .flatten())
    }

    async fn rename(&self, params: lsp::RenameParams) -> Result<Option<lsp::WorkspaceEdit>> {
        let (uri, pos) = at(&params.text_document_position);
        let target = uri.clone();
        let new_name = params.new_name;
        let edits = self
            .with_analysis(uri, Depth::Syntax, move |a, lines| {
                features::rename(a, offset(a.tree.text, pos), &new_name).map(|edits| {
                    edits
                        .into_iter()
                        .map(|(r, t)| lsp::TextEdit {
                            range: lines.range(&r),
                            new_text: t,
                        })
                        .collect::<Vec<_>>()
                })
            })
            .await;
        match edits {
            Some(Ok(edits)) => Ok(Some(lsp::WorkspaceEdit {
                changes: Some([(target, edits)].into_iter().collect()),
                ..Default::default()
            })),
            Some(Err(why)) => Err(tower_lsp_server::jsonrpc::Error::invalid_params(why)),
            None => Ok(None),
        }
    }

    async fn completion(
        &self,
        params: lsp::CompletionParams,
    ) -> Result<Option<lsp::CompletionResponse>> {
        let (uri, pos) = at(&params.text_document_position);
        Ok(self
            .with_analysis(uri, Depth::Full, move |a, _| {
                let items = features::completion(a, offset(a.tree.text, pos))
                    .into_iter()
                    .map(|c| lsp::CompletionItem {
                        kind: Some(match c.kind {
                            CompletionKind::Keyword => lsp::CompletionItemKind::KEYWORD,
                            CompletionKind::Instruction => lsp::CompletionItemKind::OPERATOR,
                            CompletionKind::Name(Space::Func) => lsp::CompletionItemKind::FUNCTION,
                            CompletionKind::Name(Space::Type) => lsp::CompletionItemKind::INTERFACE,
                            CompletionKind::Name(_) => lsp::CompletionItemKind::VARIABLE,
                        }),
                        detail: Some(c.detail),
                        sort_text: Some(format!("{}{}", c.rank, c.label)),
                        label: c.label,
                        ..Default::default()
                    })
                    .collect();
                lsp::CompletionResponse::Array(items)
            })
            .await)
    }

    async fn document_symbol(
        &self,
        params: lsp::DocumentSymbolParams,
    ) -> Result<Option<lsp::DocumentSymbolResponse>> {
        Ok(self
            .with_analysis(&params.text_document.uri, Depth::Syntax, |a, lines| {
                let symbols = features::symbols(a)
                    .iter()
                    .map(|s| to_symbol(lines, s))
                    .collect();
                lsp::DocumentSymbolResponse::Nested(symbols)
            })
            .await)
    }

    async fn semantic_tokens_full(
        &self,
        params: lsp::SemanticTokensParams,
    ) -> Result<Option<lsp::SemanticTokensResult>> {
        Ok(self
            .with_analysis(&params.text_document.uri, Depth::Syntax, |a, lines| {
                let mut data = Vec::new();
                let mut prev = lsp::Position::default();
                for (range, class) in features::semantic_tokens(a) {
                    let (token_type, modifiers) = token_type(class);
                    // One token per line: not every client takes multi-line ones.
                    let mut start = range.start;
                    while start < range.end {
                        let line_end = a.tree.text[start..range.end]
                            .find('\n')
                            .map_or(range.end, |i| start + i);
                        let (p, q) = (lines.position(start), lines.position(line_end));
                        if q.character > p.character {
                            data.push(lsp::SemanticToken {
                                delta_line: p.line - prev.line,
                                delta_start: if p.line == prev.line {
                                    p.character - prev.character
                                } else {
                                    p.character
                                },
                                length: q.character - p.character,
                                token_type,
                                token_modifiers_bitset: modifiers,
                            });
                            prev = p;
                        }
                        start = line_end + 1;
                    }
                }
                lsp::SemanticTokensResult::Tokens(lsp::SemanticTokens {
                    result_id: None,
                    data,
                })
            })
            .await)
    }

    async fn folding_range(
        &self,
        params: lsp::FoldingRangeParams,
    ) -> Result<Option<Vec<lsp::FoldingRange>>> {
        Ok(self
            .with_analysis(&params.text_document.uri, Depth::Syntax, |a, lines| {
                features::folding_ranges(a)
                    .into_iter()
                    .map(|(r, comment)| lsp::FoldingRange {
                        start_line: lines.position(r.start).line,
                        end_line: lines.position(r.end).line,
                        kind: comment.then_some(lsp::FoldingRangeKind::Comment),
                        ..Default::default()
                    })
                    .collect()
            })
            .await)
    }

    async fn formatting(
        &self,
        params: lsp::DocumentFormattingParams,
    ) -> Result<Option<Vec<lsp::TextEdit>>> {
        Ok(self
            .with_analysis(&params.text_document.uri, Depth::Syntax, |a, lines| {
                let text = a.tree.text;
                let formatted = features::format(text);
                if formatted == text {
                    return Vec::new();
                }
                vec![lsp::TextEdit {
                    range: lines.range(&(0..text.len())),
                    new_text: formatted,
                }]
            })
            .await)
    }

    async fn code_lens(&self, params: lsp::CodeLensParams) -> Result<Option<Vec<lsp::CodeLens>>> {
        let uri = params.text_document.uri.clone();
        Ok(self
            .with_analysis(&params.text_document.uri, Depth::Syntax, move |a, lines| {
                features::code_lenses(a)
                    .into_iter()
                    .map(|l| {
                        let mut arguments =
                            vec![serde_json::Value::String(uri.as_str().to_string())];
                        if let Some(e) = l.export {
                            arguments.push(serde_json::Value::String(e));
                        }
                        lsp::CodeLens {
                            range: lines.range(&l.range),
                            command: Some(lsp::Command {
                                title: l.title,
                                command: l.command.into(),
                                arguments: Some(arguments),
                            }),
                            data: None,
                        }
                    })
                    .collect()
            })
            .await)
    }

    async fn inlay_hint(
        &self,
        params: lsp::InlayHintParams,
    ) -> Result<Option<Vec<lsp::InlayHint>>> {
        let range = params.range;
        Ok(self
            .with_analysis(&params.text_document.uri, Depth::Full, move |a, lines| {
                let text = a.tree.text;
                let bytes = offset(text, range.start)..offset(text, range.end);
                features::inlay_hints(a, bytes)
                    .into_iter()
                    .map(|(at, label)| lsp::InlayHint {
                        position: lines.position(at),
                        label: lsp::InlayHintLabel::String(format!(" {label}")),
                        kind: Some(lsp::InlayHintKind::TYPE),
                        text_edits: None,
                        tooltip: None,
                        padding_left: Some(true),
                        padding_right: None,
                        data: None,
                    })
                    .collect()
            })
            .await)
    }
}

static SHUTDOWN_REQUESTED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Serves LSP on stdin/stdout until the client sends `exit`; then exits the
/// process with 0 if `shutdown` came first and 1 otherwise, as the
/// protocol asks. Returns only on a setup error.
pub fn run_stdio() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (service, socket) = LspService::build(|client| Backend {
            client,
            docs: Arc::default(),
        })
        .custom_method("wasmscope/disassemble", Backend::disassemble)
        .finish();
        Server::new(tokio::io::stdin(), tokio::io::stdout(), socket)
            .serve(service)
            .await;
    });
    // tokio's stdin reader may still block on a read; the protocol is over.
    let clean = SHUTDOWN_REQUESTED.load(std::sync::atomic::Ordering::SeqCst);
    std::process::exit(if clean { 0 } else { 1 });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_positions_round_trip() {
        let text = "ab\n𝄞x\ny";
        let p = position(text, text.find('x').unwrap());
        assert_eq!(
            (p.line, p.character),
            (1, 2),
            "the clef is two UTF-16 units"
        );
        assert_eq!(offset(text, p), text.find('x').unwrap());
        assert_eq!(
            offset(
                text,
                lsp::Position {
                    line: 9,
                    character: 0
                }
            ),
            text.len()
        );
        assert_eq!(
            offset(
                text,
                lsp::Position {
                    line: 0,
                    character: 99
                }
            ),
            2
        );
    }
}
