"""``cnndsl lsp``: the notation in the editor, over the Language Server Protocol (stdio).

Built on pygls (the ``lsp`` extra). For ``.cnn`` files: diagnostics as you type, each
layer's output shape and each model's parameter count as inlay hints, hover, completion,
formatting, go to definition, references, rename, document symbols and quick fixes; for
Python files, the diagnostics of the spec literals passed to cnndsl. Settings come from
the nearest ``pyproject.toml``, re-read when it changes.

The server only reads and parses documents: it never imports or runs a user's code,
and never imports TensorFlow. The answers come from :mod:`cnndsl.lsp.analysis`.
"""

from __future__ import annotations

import logging
import os
import re
from bisect import bisect_right
from collections.abc import Callable
from pathlib import Path

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from cnndsl.errors import Diagnostic
from cnndsl.layers import LAYERS, REQUIRED
from cnndsl.lsp import analysis as an
from cnndsl.settings import Settings, SettingsError, load_settings, pyprojects
from cnndsl.version import __version__

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""The bare words each keyword takes."""


class CnndslServer(LanguageServer):
    """The language server, holding the latest analysis of each open document."""

    def __init__(self, task: str | None = None) -> None:
        super().__init__("cnndsl", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
        self.analyses: dict[str, tuple[an.Analysis, Lines]] = {}
        self.settings_cache: dict[Path, tuple[tuple | None, Settings | SettingsError]] = {}
        self.task = task
        """``cnndsl lsp --task``: the task of every document, over the projects' task settings."""
        self.after_first_diagnostics: Callable[[], None] | None = None
        """Called once, when the first diagnostics are out (the command line settles the start's memory then)."""

    def settings_for(self, path: str | None) -> Settings | SettingsError:
        """The settings ``cnndsl check`` would use for the document, re-read whenever a pyproject.toml above it changes."""
        folder = (Path(path).parent if path else Path.cwd()).absolute()
        try:
            stamp = tuple((p, s.st_mtime_ns, s.st_size) for p in pyprojects(folder) for s in [os.stat(p)])
        except OSError:
            stamp = None
        cached = self.settings_cache.get(folder)
        if cached is None or stamp is None or cached[0] != stamp:
            try:
                loaded: Settings | SettingsError = load_settings(folder).merged(task=self.task)
            except SettingsError as error:
                loaded = error
            cached = self.settings_cache[folder] = (stamp, loaded)
        return cached[1]


class Lines:
    """Offsets in a text <-> LSP positions (lines end at \\n, \\r\\n or \\r; columns in the client's units)."""

    def __init__(self, text: str, encoding: str = "utf-16"):
        self.text = text
        self.starts = [0, *(m.end() for m in re.finditer(r"\r\n|\r|\n", text))]
        self.encoding = encoding

    def position(self, offset: int) -> lsp.Position:
        offset = max(0, min(offset, len(self.text)))
        line = bisect_right(self.starts, offset) - 1
        return lsp.Position(line, self._units(self.text[self.starts[line] : offset]))

    def offset(self, position: lsp.Position) -> int:
        if position.line >= len(self.starts):
            return len(self.text)
        start = self.starts[position.line]
        end = self.starts[position.line + 1] if position.line + 1 < len(self.starts) else len(self.text)
        content_end = len(self.text[start:end].rstrip("\r\n")) + start
        if self.encoding == "utf-32" or self.text[start:end].isascii():
            return min(start + position.character, content_end)
        units = 0
        for index in range(start, end):
            if units >= position.character:
                return index
            units += self._units(self.text[index])
        return content_end

    def range(self, start: int, end: int) -> lsp.Range:
        return lsp.Range(self.position(start), self.position(end))

    def _units(self, text: str) -> int:
        if self.encoding == "utf-32" or text.isascii():
            return len(text)
        if self.encoding == "utf-8":
            return len(text.encode("utf-8", "surrogatepass"))
        return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


# --- analysing and publishing -----------------------------------------------------------


def refresh(ls: CnndslServer, uri: str) -> None:
    """Analyse a document's current text and publish its diagnostics."""
    document = ls.workspace.get_text_document(uri)
    settings = ls.settings_for(document.path)
    problems: list[lsp.Diagnostic] = []
    if isinstance(settings, SettingsError):
        problems.append(_settings_diagnostic(settings))
        settings = Settings()
    text = document.source  # a byte-order mark is whitespace to the notation: offsets stay the editor's
    if _is_python(uri):
        analysis = an.analyze_python(text, settings, document.path or uri)
    else:
        previous = ls.analyses.get(uri)
        analysis = an.analyze_spec_file(text, settings, Path(document.path or "spec").stem, previous and previous[0])
    lines = Lines(text, str(ls.workspace.position_encoding or "utf-16"))
    ls.analyses[uri] = (analysis, lines)
    problems += [to_lsp_diagnostic(d, lines) for d in analysis.diagnostics]
    ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri, problems, document.version))
    if ls.after_first_diagnostics is not None:
        settle, ls.after_first_diagnostics = ls.after_first_diagnostics, None
        settle()


def _is_python(uri: str) -> bool:
    return uri.endswith((".py", ".pyi"))


def _settings_diagnostic(error: SettingsError) -> lsp.Diagnostic:
    return lsp.Diagnostic(lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)), str(error),
                          severity=lsp.DiagnosticSeverity.Error, source="cnndsl", code="settings")  # fmt: skip


def to_lsp_diagnostic(diagnostic: Diagnostic, lines: Lines) -> lsp.Diagnostic:
    """A cnndsl diagnostic: its span as a range, severity, message with its hint, and its code."""
    span = diagnostic.span
    where = lines.range(span.start, span.end) if span else lines.range(0, 0)
    severity = lsp.DiagnosticSeverity.Warning if diagnostic.severity == "warning" else lsp.DiagnosticSeverity.Error
    message = diagnostic.message + (f"\nhelp: {diagnostic.hint}" if diagnostic.hint else "")
    return lsp.Diagnostic(where, message, severity=severity, code=diagnostic.code or diagnostic.kind, source="cnndsl")


def current(ls: CnndslServer, uri: str) -> tuple[an.Analysis, Lines]:
    """The analysis of a document's current text (made now if the document changed unseen)."""
    if uri not in ls.analyses:
        refresh(ls, uri)
    return ls.analyses[uri]


def did_open(ls: CnndslServer, params: lsp.DidOpenTextDocumentParams) -> None:
    refresh(ls, params.text_document.uri)


def did_change(ls: CnndslServer, params: lsp.DidChangeTextDocumentParams) -> None:
    refresh(ls, params.text_document.uri)


def did_save(ls: CnndslServer, params: lsp.DidSaveTextDocumentParams) -> None:
    if params.text_document.uri.endswith("pyproject.toml"):
        recheck_all(ls)


def did_close(ls: CnndslServer, params: lsp.DidCloseTextDocumentParams) -> None:
    ls.analyses.pop(params.text_document.uri, None)
    ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(params.text_document.uri, []))


def did_change_watched_files(ls: CnndslServer, params: lsp.DidChangeWatchedFilesParams) -> None:
    """A pyproject.toml changed: its settings apply to every open document now."""
    if any(change.uri.endswith("pyproject.toml") for change in params.changes):
        recheck_all(ls)


def recheck_all(ls: CnndslServer) -> None:
    for uri in list(ls.workspace.text_documents):
        if uri.endswith("pyproject.toml"):
            continue
        refresh(ls, uri)
    if _client_refreshes_hints(ls):
        ls.workspace_inlay_hint_refresh(None)


def _client_refreshes_hints(ls: CnndslServer) -> bool:
    workspace = ls.client_capabilities.workspace
    hints = workspace.inlay_hint if workspace else None
    return bool(hints and hints.refresh_support)


def initialized(ls: CnndslServer, params: lsp.InitializedParams) -> None:
    """Ask the client to report changes to pyproject.toml files, where it can."""
    workspace = ls.client_capabilities.workspace
    watched = workspace.did_change_watched_files if workspace else None
    if watched and watched.dynamic_registration:
        options = lsp.DidChangeWatchedFilesRegistrationOptions([lsp.FileSystemWatcher("**/pyproject.toml")])
        registration = lsp.Registration("cnndsl-pyproject", lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES, options)
        ls.client_register_capability(lsp.RegistrationParams([registration]))


# --- inlay hints, hover -------------------------------------------------------------------


def inlay_hints(ls: CnndslServer, params: lsp.InlayHintParams) -> list[lsp.InlayHint]:
    analysis, lines = current(ls, params.text_document.uri)
    start, end = lines.offset(params.range.start), lines.offset(params.range.end)
    return [
        lsp.InlayHint(lines.position(hint.offset), hint.label, padding_left=True, tooltip=hint.tooltip)
        for hint in analysis.hints
        if start <= hint.offset <= end
    ]


def hover(ls: CnndslServer, params: lsp.HoverParams) -> lsp.Hover | None:
    analysis, lines = current(ls, params.text_document.uri)
    found = an.hover_at(analysis, lines.offset(params.position))
    if found is None:
        return None
    text, start, end = found
    return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, text), lines.range(start, end))


def _name_at(analysis: an.Analysis, offset: int):
    return analysis.name_at(offset)


# --- completion ---------------------------------------------------------------------------


def completion(ls: CnndslServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    analysis, lines = current(ls, params.text_document.uri)
    offset = lines.offset(params.position)
    return lsp.CompletionList(False, completion_items(analysis, offset))


def completion_items(analysis: an.Analysis, offset: int) -> list[lsp.CompletionItem]:
    """Keyword names and their words inside a layer's parentheses; else layer codes and the blocks above.

    After ``@``, the tensors named so far in the definition.
    """
    tensors = an.tensor_context(analysis.text, offset)
    if tensors is not None:
        return [lsp.CompletionItem(name, kind=lsp.CompletionItemKind.Reference, detail="tensor") for name in tensors]
    context = an.call_context(analysis.text, offset)
    if context is None:
        return _codes() + _names_above(analysis, offset)
    code, keyword, given, positional = context
    kind = LAYERS.get(code.upper())
    if kind is None:
        return []
    if keyword is not None:
        return [_word(word, keyword) for word in _options(kind, keyword)]
    written = given | _by_position(kind, positional)
    items = [
        lsp.CompletionItem(f"{param.name}=", kind=lsp.CompletionItemKind.Property, detail=kind.signature(),
                           documentation=_default_doc(param), insert_text=f"{param.name}=")
        for param in kind.params if param.name not in written
    ]  # fmt: skip
    if kind.params and not written:  # the first argument may be written bare: ACT(relu)
        items += [_word(word, kind.params[0].name) for word in _options(kind, kind.params[0].name)]
    return items


def _by_position(kind, count: int) -> set[str]:
    """The parameters ``count`` positional arguments give: the first ones, or all of them the collected one (MP's pool)."""
    if kind.collect:
        return {kind.collect} if count else set()
    return {param.name for param in kind.params[:count]}


def _options(kind, name: str) -> tuple[str, ...]:
    """The words the layer table accepts for a parameter (none for numbers and shapes)."""
    param = next((param for param in kind.params if param.name == name), None)
    return getattr(param.kind, "options", ()) if param is not None else ()


def _default_doc(param) -> str:
    return "required" if param.default is REQUIRED else f"default: {param.shown or param.default}"


def _word(word: str, keyword: str) -> lsp.CompletionItem:
    return lsp.CompletionItem(word, kind=lsp.CompletionItemKind.EnumMember, detail=keyword)


def _codes() -> list[lsp.CompletionItem]:
    return [
        lsp.CompletionItem(code, kind=lsp.CompletionItemKind.Class, detail=kind.signature(),
                           documentation=f"{kind.keras_class}: {kind.summary}", insert_text=f"{code}(")
        for code, kind in LAYERS.items()
    ]  # fmt: skip


def _names_above(analysis: an.Analysis, offset: int) -> list[lsp.CompletionItem]:
    """The definitions written before the one the cursor is in (mid-edit, a definition may
    have been read only as far as its error: its own text still runs to the next one)."""
    starts = an.definition_starts(analysis.text)
    return [
        lsp.CompletionItem(d.name, kind=lsp.CompletionItemKind.Module if d.is_block else lsp.CompletionItemKind.Variable,
                           detail=("block" if d.is_block else "model") + f" = {d.chain.span.text(analysis.text)[:60]}")
        for d in analysis.definitions
        if next((start for start in starts if start > d.span.start), len(analysis.text) + 1) <= offset
    ]  # fmt: skip


# --- formatting ---------------------------------------------------------------------------


def formatting(ls: CnndslServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
    analysis, lines = current(ls, params.text_document.uri)
    formatted = an.formatted(analysis.text)
    if formatted is None or formatted == analysis.text or _is_python(params.text_document.uri):
        return None if formatted is None else []
    return [lsp.TextEdit(lines.range(0, len(lines.text)), formatted)]


def range_formatting(ls: CnndslServer, params: lsp.DocumentRangeFormattingParams) -> list[lsp.TextEdit] | None:
    analysis, lines = current(ls, params.text_document.uri)
    if _is_python(params.text_document.uri):
        return None
    found = an.formatted_range(analysis.text, lines.offset(params.range.start), lines.offset(params.range.end))
    if found is None:
        return None
    start, end, text = found
    return [] if analysis.text[start:end] == text else [lsp.TextEdit(lines.range(start, end), text)]


# --- names: definition, references, rename, symbols ---------------------------------------


def definition(ls: CnndslServer, params: lsp.DefinitionParams) -> lsp.Location | None:
    analysis, lines = current(ls, params.text_document.uri)
    offset = lines.offset(params.position)
    tensors = analysis.tensor_names(offset)
    if tensors is not None:
        named = next((place.span for place in tensors if place.named is not None), None)
        return None if named is None else lsp.Location(params.text_document.uri, lines.range(named.start, named.end))
    found = _name_at(analysis, offset)
    target = analysis.definition(found[0]) if found else None
    if target is None:
        return None
    return lsp.Location(params.text_document.uri, lines.range(target.name_span.start, target.name_span.end))


def references(ls: CnndslServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
    analysis, lines = current(ls, params.text_document.uri)
    offset = lines.offset(params.position)
    tensors = analysis.tensor_names(offset)
    if tensors is not None:
        return [
            lsp.Location(params.text_document.uri, lines.range(place.span.start, place.span.end))
            for place in tensors
            if params.context.include_declaration or place.named is None
        ]
    found = _name_at(analysis, offset)
    if found is None:
        return []
    return [
        lsp.Location(params.text_document.uri, lines.range(span.start, span.end))
        for name, span, is_definition in analysis.names()
        if name == found[0] and (params.context.include_declaration or not is_definition)
    ]


def prepare_rename(ls: CnndslServer, params: lsp.PrepareRenameParams) -> lsp.Range | None:
    analysis, lines = current(ls, params.text_document.uri)
    offset = lines.offset(params.position)
    tensors = analysis.tensor_names(offset)
    if tensors is not None:
        here = next(place.span for place in tensors if place.span.start <= offset <= place.span.end)
        return lines.range(here.start, here.end)
    found = _name_at(analysis, offset)
    if found is None or analysis.definition(found[0]) is None:
        return None
    return lines.range(found[1].start, found[1].end)


def rename(ls: CnndslServer, params: lsp.RenameParams) -> lsp.WorkspaceEdit | None:
    """A definition's name everywhere the file uses it; a tensor's name (``as s3``, ``@s3``) in its definition."""
    analysis, lines = current(ls, params.text_document.uri)
    offset = lines.offset(params.position)
    tensors = analysis.tensor_names(offset)
    if tensors is not None:
        problem = an.tensor_rename_problem(params.new_name, tensors, analysis)
        spans = [place.span for place in tensors]
    else:
        found = _name_at(analysis, offset)
        if found is None or analysis.definition(found[0]) is None:
            return None
        problem = an.rename_problem(params.new_name, analysis)
        spans = [span for name, span, _ in analysis.names() if name == found[0]]
    if problem:
        raise Refused("rename", problem)
    edits = [lsp.TextEdit(lines.range(span.start, span.end), params.new_name) for span in spans]
    return lsp.WorkspaceEdit(changes={params.text_document.uri: edits})


def document_symbols(ls: CnndslServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
    analysis, lines = current(ls, params.text_document.uri)
    if analysis.chain is not None and not analysis.definitions:
        name, model = next(iter(analysis.models.items()), (Path(params.text_document.uri).stem, None))
        where = lines.range(analysis.chain.span.start, analysis.chain.span.end)
        return [lsp.DocumentSymbol(name, lsp.SymbolKind.Class, where, where, detail=_params(model))]
    symbols = []
    for d in analysis.definitions:
        detail = _block_detail(analysis.expansion(d.name)) if d.is_block else _params(analysis.models.get(d.name))
        kind = lsp.SymbolKind.Function if d.is_block else lsp.SymbolKind.Class
        symbols.append(lsp.DocumentSymbol(d.name, kind, lines.range(d.span.start, d.span.end),
                                          lines.range(d.name_span.start, d.name_span.end), detail=detail))  # fmt: skip
    return symbols


def _block_detail(calls) -> str:
    return f"block, more than {an.MAX_SHOWN_LAYERS:,} layers" if calls is None else f"block, {len(calls):,} layers"


def _params(model) -> str:
    return "not checked (errors)" if model is None else f"{model.total_params:,} params"


# --- quick fixes --------------------------------------------------------------------------


def code_actions(ls: CnndslServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    """The fixes of the diagnostics the range touches: only those the checker attached to them."""
    analysis, lines = current(ls, params.text_document.uri)
    start, end = lines.offset(params.range.start), lines.offset(params.range.end)
    actions = []
    for fix in analysis.fixes:
        span = fix.diagnostic.span
        if span.start > end or span.end < start:
            continue
        edits = [lsp.TextEdit(lines.range(edit.span.start, edit.span.end), edit.text) for edit in fix.edits]
        actions.append(lsp.CodeAction(
            fix.title, kind=lsp.CodeActionKind.QuickFix, diagnostics=[to_lsp_diagnostic(fix.diagnostic, lines)],
            edit=lsp.WorkspaceEdit(changes={params.text_document.uri: edits}), is_preferred=not actions,
        ))  # fmt: skip
    return actions


class Refused(JsonRpcInvalidParams):
    """A request declined for what the user asked (a rename to a name already taken): the client is
    answered with the reason; the log gets one line (:class:`OneLineRefusals`), not a traceback."""

    def __init__(self, request: str, reason: str):
        super().__init__(reason)
        self.request, self.reason = request, reason


class OneLineRefusals(logging.Filter):
    """pygls logs every error a handler raises with its traceback: a refusal is no fault of the
    server's, so its record becomes one line naming the request and the reason."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, Refused):
            record.msg, record.args = "%s refused: %s", (error.request, error.reason)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _log_to_stderr() -> None:
    """The server's log (pygls's warnings and errors) on standard error, which editors show as its log."""
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("cnndsl lsp: %(levelname)s: %(message)s"))
    handler.addFilter(OneLineRefusals())
    logging.getLogger("pygls").addHandler(handler)


# --- the server ---------------------------------------------------------------------------

FEATURES = [
    (lsp.INITIALIZED, initialized, None),
    (lsp.TEXT_DOCUMENT_DID_OPEN, did_open, None),
    (lsp.TEXT_DOCUMENT_DID_CHANGE, did_change, None),
    (lsp.TEXT_DOCUMENT_DID_SAVE, did_save, None),
    (lsp.TEXT_DOCUMENT_DID_CLOSE, did_close, None),
    (lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES, did_change_watched_files, None),
    (lsp.TEXT_DOCUMENT_INLAY_HINT, inlay_hints, None),
    (lsp.TEXT_DOCUMENT_HOVER, hover, None),
    (lsp.TEXT_DOCUMENT_COMPLETION, completion, lsp.CompletionOptions(trigger_characters=["(", ",", "=", ">", " "])),
    (lsp.TEXT_DOCUMENT_FORMATTING, formatting, None),
    (lsp.TEXT_DOCUMENT_RANGE_FORMATTING, range_formatting, None),
    (lsp.TEXT_DOCUMENT_DEFINITION, definition, None),
    (lsp.TEXT_DOCUMENT_REFERENCES, references, None),
    (lsp.TEXT_DOCUMENT_PREPARE_RENAME, prepare_rename, None),
    (lsp.TEXT_DOCUMENT_RENAME, rename, lsp.RenameOptions(prepare_provider=True)),
    (lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL, document_symbols, None),
    (lsp.TEXT_DOCUMENT_CODE_ACTION, code_actions, lsp.CodeActionOptions([lsp.CodeActionKind.QuickFix])),
]


def build_server(task: str | None = None) -> CnndslServer:
    """A server with every feature registered (not started); ``task`` overrides the projects' task setting."""
    ls = CnndslServer(task)
    for method, handler, options in FEATURES:
        ls.feature(method, options)(handler)
    return ls


def ready(task: str | None = None) -> CnndslServer:
    """The server with its log on standard error, ready to start."""
    _log_to_stderr()
    return build_server(task)


def main(task: str | None = None) -> None:
    """Serve over stdin and stdout until the client exits."""
    ready(task).start_io()
