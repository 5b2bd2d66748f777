"""``cnndsl lsp`` end to end: the server as a subprocess, driven by a real LSP client (pytest-lsp).

One server serves the whole module; each test opens its own document.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import pytest_lsp
from helpers import record_diagnostics, wait_for_diagnostics
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
MODEL2 = (ROOT / "examples" / "model2.cnn").read_text("utf-8")
NETS = """\
# nets.cnn
block stem = CN(32, 3) -> BN()

small = stem * 2 -> MP(2) -> FL() -> DN(128)
wide = stem -> CN(64) -> GAP()
"""


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(server_command=[sys.executable, "-m", "cnndsl", "lsp"]),
)
async def client(lsp_client: LanguageClient):
    params = lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), root_uri=ROOT.as_uri())
    await lsp_client.initialize_session(params)
    record_diagnostics(lsp_client)
    yield
    await lsp_client.shutdown_session()


_counter = iter(range(10**6))


async def open_document(client: LanguageClient, text: str, name: str = "doc.cnn", folder: Path | None = None) -> str:
    """Open ``text`` as a new document and wait for its diagnostics; returns its URI."""
    folder = folder or Path("/nonexistent-project")
    uri = (folder / f"{next(_counter)}-{name}").as_uri()
    seen = len(client.published)
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "cnndsl", 1, text)))
    await wait_for_diagnostics(client, uri, seen)
    return uri


async def change(client: LanguageClient, uri: str, version: int, text: str, edit: lsp.Range | None = None):
    """Send an edit (the whole text, or ``text`` over ``edit``); returns the diagnostics published for it."""
    event = (
        lsp.TextDocumentContentChangePartial(edit, text)
        if edit is not None
        else lsp.TextDocumentContentChangeWholeDocument(text)
    )
    params = lsp.DidChangeTextDocumentParams(lsp.VersionedTextDocumentIdentifier(version=version, uri=uri), [event])
    seen = len(client.published)
    client.text_document_did_change(params)
    return await wait_for_diagnostics(client, uri, seen)


def at(line: int, character: int) -> lsp.Position:
    return lsp.Position(line, character)


def whole(text: str) -> lsp.Range:
    return lsp.Range(at(0, 0), at(text.count("\n") + 1, 0))


async def hints(client: LanguageClient, uri: str, text: str) -> list[tuple[int, int, str]]:
    found = await client.text_document_inlay_hint_async(
        lsp.InlayHintParams(lsp.TextDocumentIdentifier(uri), whole(text))
    )
    return [(h.position.line, h.position.character, h.label) for h in found or []]


def offset_of(text: str, needle: str, after: bool = True) -> lsp.Position:
    """The position just after (or at the start of) the first ``needle`` in ``text``."""
    index = text.index(needle) + (len(needle) if after else 0)
    line = text.count("\n", 0, index)
    return at(line, index - (text.rfind("\n", 0, index) + 1))


# --- diagnostics --------------------------------------------------------------------------


async def test_a_valid_file_has_no_diagnostics(client):
    uri = await open_document(client, MODEL2)
    assert list(client.diagnostics[uri]) == []


async def test_an_edit_that_introduces_an_error_then_one_that_fixes_it(client):
    text = "CN(20,(5,5)) -> MP(2) -> FL() -> DN(128)\n"
    uri = await open_document(client, text)
    edited = await change(client, uri, 2, "50,5", lsp.Range(at(0, 3), at(0, 11)))  # CN(50,5) -> MP(2) -> ...
    assert edited == []
    broken = await change(client, uri, 3, "MP(30)", lsp.Range(at(0, 12), at(0, 17)))  # a 30x30 pool on 24x24
    (problem,) = broken
    assert problem.severity == lsp.DiagnosticSeverity.Error
    assert problem.code == "input-too-small" and problem.source == "cnndsl"
    assert problem.range == lsp.Range(at(0, 12), at(0, 18))
    assert problem.message.startswith("MP(30): pool 30x30 needs an input of at least 30x30")
    fixed = await change(client, uri, 4, "MP(2)", lsp.Range(at(0, 12), at(0, 18)))
    assert fixed == []


async def test_every_error_has_its_range_message_and_hint(client):
    text = "CN(8, paddng=same) -> Cn(3) -> FL() -> DN(10, activation=rleu)"
    uri = await open_document(client, text)
    found = {d.message.split("\n")[0]: d for d in list(client.diagnostics[uri])}
    assert set(found) == {
        "CN has no argument 'paddng'",
        "unknown layer code 'Cn'",
        "unknown DN activation 'rleu'",
    }
    assert found["CN has no argument 'paddng'"].range == lsp.Range(at(0, 6), at(0, 17))
    assert "help: did you mean padding=?" in found["CN has no argument 'paddng'"].message
    assert found["unknown layer code 'Cn'"].range == lsp.Range(at(0, 22), at(0, 24))


async def test_a_warning_is_published_as_a_warning(client):
    uri = await open_document(client, "CN(8) -> DN(16) -> FL()")
    (warning,) = list(client.diagnostics[uri])
    assert warning.severity == lsp.DiagnosticSeverity.Warning
    assert "acts on the last axis only" in warning.message


async def test_budgets_come_from_the_nearest_pyproject_and_follow_its_changes(client, tmp_path):
    project = tmp_path / "project"
    (project / "nets").mkdir(parents=True)
    pyproject = project / "pyproject.toml"
    pyproject.write_text("[tool.cnndsl]\nmax-params = 100000\n")
    uri = await open_document(client, MODEL2, folder=project / "nets")
    assert list(client.diagnostics[uri]) == []  # 65,358 parameters
    pyproject.write_text("[tool.cnndsl]\nmax-params = 50000\n")
    seen = len(client.published)
    client.workspace_did_change_watched_files(
        lsp.DidChangeWatchedFilesParams([lsp.FileEvent(pyproject.as_uri(), lsp.FileChangeType.Changed)])
    )
    (over,) = await wait_for_diagnostics(client, uri, seen)
    assert over.code == "max-params"
    assert over.message.startswith("65,358 parameters, over the budget of 50,000")
    pyproject.write_text("[tool.cnndsl]\nmax-params = 100000\nclasses = 3\n")
    diagnostics = await change(client, uri, 2, MODEL2 + "\n")  # a keystroke also re-reads a changed file
    assert diagnostics == []
    shown = await hints(client, uri, MODEL2)
    assert shown[-1][2] == f"{65358 - 129 * 10 + 129 * 3:,} params"  # the head has 3 classes now


async def test_a_broken_pyproject_is_one_diagnostic_and_the_spec_is_still_checked(client, tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.cnndsl]\nmax-parms = 1\n")
    uri = await open_document(client, "CN(8) -> Cn(3) -> FL()", folder=tmp_path)
    codes = sorted(d.code for d in list(client.diagnostics[uri]))
    assert codes == ["settings", "unknown-layer"]


# --- inlay hints --------------------------------------------------------------------------


async def test_hints_show_each_layers_output_shape_and_the_models_parameters(client):
    text = "CN(20,(5,5)) -> BN() -> MP(2) -> FL() -> DN(128)"
    uri = await open_document(client, text)
    assert await hints(client, uri, text) == [
        (0, 12, "▸ 24×24×20"),
        (0, 20, "▸ 24×24×20"),
        (0, 29, "▸ 12×12×20"),
        (0, 37, "▸ 2880"),
        (0, 48, "▸ 128"),
        (0, 48, "370,658 params"),
    ]


async def test_hints_after_a_block_use_and_a_repetition_and_one_count_per_model(client):
    uri = await open_document(client, NETS, "nets.cnn")
    shown = await hints(client, uri, NETS)
    labels = {(line, label) for line, _, label in shown}
    assert (3, "▸ 24×24×32") in labels  # after `stem * 2`
    assert (3, "▸ 26×26×32") in labels  # after the first `stem`
    assert (3, "601,066 params") in labels and (4, "19,594 params") in labels
    assert [label for line, _, label in shown if line == 1] == ["▸ 26×26×32", "▸ 26×26×32"]  # the block's layers


async def test_a_file_with_a_syntax_error_mid_edit_still_gets_hints_where_it_parses(client):
    text = NETS + "broken = CN(8) -> -> FL()\nlast = CN(4) -> FL()\n"
    uri = await open_document(client, text, "nets.cnn")
    (problem,) = list(client.diagnostics[uri])
    assert problem.code == "unexpected-token" and problem.range.start.line == 5
    labels = {(line, label) for line, _, label in await hints(client, uri, text)}
    assert (3, "601,066 params") in labels
    assert (6, "▸ 26×26×4") in labels and (6, "▸ 2704") in labels
    assert [label for line, label in labels if line == 5] == ["▸ 26×26×8"]  # the broken one, up to its error
    unfinished = "CN(8) -> MP(2) -> "
    uri = await open_document(client, unfinished)
    assert [label for *_, label in await hints(client, uri, unfinished)] == ["▸ 26×26×8", "▸ 13×13×8"]


async def test_an_unfinished_definition_keeps_its_error_and_the_next_definition_its_hints(client):
    text = "a = CN(8) -> FL()\nb = CN(8) -> CN(32, \nc = CN(4) -> GAP()\n"
    uri = await open_document(client, text, "nets.cnn")
    (problem,) = list(client.diagnostics[uri])
    assert problem.code == "unexpected-end" and problem.range.start.line == 1  # on b, not on c
    labels = {(line, label) for line, _, label in await hints(client, uri, text)}
    assert {(2, "▸ 26×26×4"), (2, "▸ 4"), (2, "90 params")} <= labels
    assert (1, "▸ 26×26×8") in labels  # b, up to its error
    symbols = await client.text_document_document_symbol_async(
        lsp.DocumentSymbolParams(lsp.TextDocumentIdentifier(uri))
    )
    assert [(s.name, s.detail) for s in symbols] == [("a", "54,170 params"), ("b", "not checked (errors)"),
                                                     ("c", "90 params")]  # fmt: skip
    bare = "CN(8, \nc = CN(4) -> GAP()\n"  # no definition above to hold the error: the file's own
    uri = await open_document(client, bare, "nets.cnn")
    assert len(client.diagnostics[uri]) == 1
    assert (1, "90 params") in {(line, label) for line, _, label in await hints(client, uri, bare)}
    indented = "m = CN(32,\npadding=same) -> -> FL()\n"  # a keyword at a line's start is no definition
    uri = await open_document(client, indented, "nets.cnn")
    (problem,) = list(client.diagnostics[uri])
    assert problem.range.start == offset_of(indented, "-> FL", after=False)


async def test_a_file_with_a_syntax_error_and_a_search_space_is_still_answered(client):
    text = "a = CN(8) -> -> FL()\nb = CN({4, 8}) -> {MP(2) | CN(4, 1)} * {1..2} -> FL()\nc = CN(4) -> GAP()\n"
    uri = await open_document(client, text, "space.cnn")
    (problem,) = list(client.diagnostics[uri])
    assert problem.code == "unexpected-token" and problem.range.start.line == 0
    symbols = await client.text_document_document_symbol_async(
        lsp.DocumentSymbolParams(lsp.TextDocumentIdentifier(uri))
    )
    assert [s.name for s in symbols] == ["a", "b", "c"]
    assert (2, "90 params") in {(line, label) for line, _, label in await hints(client, uri, text)}


# --- hover --------------------------------------------------------------------------------


async def test_hover_on_a_layer_shows_its_arguments_shapes_parameters_and_macs(client):
    uri = await open_document(client, MODEL2)
    result = await client.text_document_hover_async(
        lsp.HoverParams(lsp.TextDocumentIdentifier(uri), offset_of(MODEL2, "BN()", after=False))
    )
    text = result.contents.value
    assert "BatchNormalization" in text
    assert "input 24×24×20 → output 24×24×20" in text
    assert "params 80 (trainable 40, non-trainable 40)" in text
    result = await client.text_document_hover_async(
        lsp.HoverParams(lsp.TextDocumentIdentifier(uri), offset_of(MODEL2, "CN(20)\n", after=False))
    )
    text = result.contents.value
    assert "`CN(filters=20, kernel=(5, 5) (inherited), strides=(1, 1) (default), padding=valid (default)" in text
    assert "input 24×24×20 → output 20×20×20" in text
    assert f"params {5 * 5 * 20 * 20 + 20:,}" in text and f"MACs {20 * 20 * 20 * 5 * 5 * 20:,}" in text


SKIP = """\
unet = IN(32, 32, 3) -> CN(8, 3, padding=same) as s3 -> MP(2) -> CN(8, 3, padding=same) -> UP(2)
    -> ADD(ID() | @s3) -> CAT(ID() | @s3 -> CN(4, 1)) -> GAP()
other = IN(8, 8, 1) -> CN(2, 1) as s3 -> ADD(ID() | @s3) -> FL()
"""


async def test_hover_on_a_merge_shows_its_branches_output_and_parameters(client):
    uri = await open_document(client, SKIP)
    doc = lsp.TextDocumentIdentifier(uri)
    result = await client.text_document_hover_async(lsp.HoverParams(doc, offset_of(SKIP, "ADD(", after=False)))
    text = result.contents.value
    assert "**ADD** · Add" in text
    assert "2 branches 32×32×8 | 32×32×8 → output 32×32×8" in text
    assert "params 0" in text
    result = await client.text_document_hover_async(lsp.HoverParams(doc, offset_of(SKIP, "CAT(ID() | @s3 -> ")))
    text = result.contents.value  # the CN inside the merge's branch, not the merge
    assert "**CN**" in text and "input 32×32×8 → output 32×32×4" in text
    result = await client.text_document_hover_async(lsp.HoverParams(doc, offset_of(SKIP, "CAT(", after=False)))
    assert "2 branches 32×32×8 | 32×32×4 → output 32×32×12" in result.contents.value


async def test_a_tensor_name_hovers_goes_to_its_naming_and_renames_in_its_definition_only(client):
    uri = await open_document(client, SKIP)
    doc = lsp.TextDocumentIdentifier(uri)
    use = offset_of(SKIP, "ADD(ID() | @s")  # inside `@s3` of the first model
    result = await client.text_document_hover_async(lsp.HoverParams(doc, use))
    assert "**tensor s3**" in result.contents.value and "shape 32×32×8" in result.contents.value
    assert "used 2 times as `@s3`" in result.contents.value
    target = await client.text_document_definition_async(lsp.DefinitionParams(doc, use))
    assert target.range == lsp.Range(at(0, 50), at(0, 52))
    found = await client.text_document_references_async(
        lsp.ReferenceParams(text_document=doc, position=use, context=lsp.ReferenceContext(include_declaration=False))
    )
    assert sorted((r.range.start.line, r.range.start.character) for r in found) == [(1, 19), (1, 38)]
    prepared = await client.text_document_prepare_rename_async(lsp.PrepareRenameParams(doc, use))
    assert prepared == lsp.Range(at(1, 19), at(1, 21))
    edit = await client.text_document_rename_async(lsp.RenameParams(doc, use, "skip"))
    assert sorted((e.range.start.line, e.range.start.character, e.range.end.character, e.new_text)
                  for e in edit.changes[uri]) == [(0, 50, 52, "skip"), (1, 19, 21, "skip"), (1, 38, 40, "skip")]  # fmt: skip
    with pytest.raises(Exception, match="not a name"):
        await client.text_document_rename_async(lsp.RenameParams(doc, use, "2x"))


async def test_renaming_a_tensor_to_one_its_definition_names_already_is_refused(client):
    text = "m = IN(8, 8, 1) -> CN(2, 1) as a -> CN(2, 1) as b -> ADD(@a | @b) -> FL()\n"
    uri = await open_document(client, text)
    doc = lsp.TextDocumentIdentifier(uri)
    with pytest.raises(Exception, match="'b' already names a tensor in this definition"):
        await client.text_document_rename_async(lsp.RenameParams(doc, offset_of(text, "@a", after=True), "b"))


async def test_hover_on_a_layer_of_unknown_size_says_its_macs_are_unknown(client):
    text = "m = IN(None, None, 2) -> CN(2, 1) -> GAP()\n"
    uri = await open_document(client, text)
    result = await client.text_document_hover_async(
        lsp.HoverParams(lsp.TextDocumentIdentifier(uri), offset_of(text, "CN(", after=False))
    )
    assert "output ?×?×2" in result.contents.value or "None" in result.contents.value
    assert "MACs unknown" in result.contents.value


async def test_a_search_space_gets_hover_and_symbols_not_a_crash(client):
    text = "block b = {CN(4) | CN(2)}\nnet = CN(8) -> b -> {CN(4) | CN(2)} -> FL() -> DN(10)\n"
    uri = await open_document(client, text, "space.cnn")
    document = lsp.TextDocumentIdentifier(uri)
    result = await client.text_document_hover_async(lsp.HoverParams(document, offset_of(text, "CN(8)", after=False)))
    assert "Conv2D" in result.contents.value
    result = await client.text_document_hover_async(lsp.HoverParams(document, offset_of(text, "block ", after=True)))
    assert "is a search space" in result.contents.value
    symbols = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(document))
    assert [symbol.name for symbol in symbols] == ["b", "net"]
    (problem,) = list(client.diagnostics[uri])
    assert "search space" in problem.message


async def test_hover_on_a_block_name_shows_its_definition_and_expansion(client):
    uri = await open_document(client, NETS, "nets.cnn")
    result = await client.text_document_hover_async(
        lsp.HoverParams(lsp.TextDocumentIdentifier(uri), offset_of(NETS, "stem * 2", after=False))
    )
    text = result.contents.value
    assert "block stem = CN(32, 3) -> BN()" in text
    assert "expands to 2 layers: `CN(32, 3) -> BN()`" in text
    result = await client.text_document_hover_async(
        lsp.HoverParams(lsp.TextDocumentIdentifier(uri), offset_of(NETS, "small", after=False))
    )
    assert "expands to 7 layers" in result.contents.value and "601,066 params" in result.contents.value


# --- completion ---------------------------------------------------------------------------


async def complete(client, uri, position) -> dict[str, lsp.CompletionItem]:
    result = await client.text_document_completion_async(
        lsp.CompletionParams(lsp.TextDocumentIdentifier(uri), position)
    )
    return {item.label: item for item in result.items}


async def test_completion_offers_codes_keywords_words_and_blocks_above(client):
    text = "block stem = CN(32, 3)\nm = stem -> CN(8, padding=sa, act\n"
    uri = await open_document(client, text)
    codes = await complete(client, uri, at(1, 12))
    assert {"CN", "MP", "DN", "stem"} <= set(codes)
    assert codes["CN"].detail.startswith("CN(filters, kernel=3")
    assert "m" not in codes  # a name is offered only below its definition
    keywords = await complete(client, uri, at(1, len("m = stem -> CN(8, padding=sa, act")))
    assert {"kernel=", "strides=", "activation=", "dilation="} <= set(keywords)
    assert "padding=" not in keywords and "filters=" not in keywords  # 8 gives the filters
    words = await complete(client, uri, at(1, len("m = stem -> CN(8, padding=sa")))
    assert set(words) == {"valid", "same"}


async def test_completion_leaves_out_the_arguments_given_by_position(client):
    text = "CN(32, 5, ) -> MP(2, 2, ) -> ACT(relu, )\n"
    uri = await open_document(client, text)
    after_two = await complete(client, uri, offset_of(text, "CN(32, 5, "))
    assert "filters=" not in after_two and "kernel=" not in after_two
    assert {"strides=", "padding=", "activation="} <= set(after_two)
    pooled = await complete(client, uri, offset_of(text, "MP(2, 2, "))  # every positional number forms the pool
    assert "pool=" not in pooled and {"strides=", "padding="} <= set(pooled)
    named = await complete(client, uri, offset_of(text, "ACT(relu, "))
    assert "name=" not in named and "relu" not in named  # the first argument, written bare, is given
    tuple_kernel = "CN(8, (3, 5), "
    uri = await open_document(client, tuple_kernel)
    offered = await complete(client, uri, offset_of(tuple_kernel, tuple_kernel))
    assert "kernel=" not in offered and "strides=" in offered  # a tuple is one argument


async def test_completion_offers_every_word_the_layer_table_accepts(client):
    text = "CN(8) -> UP(2, interpolation=bi) -> GAP(keepdims=t) -> DN(10, bias=f)\n"
    uri = await open_document(client, text)
    for written, words in [("interpolation=bi", {"nearest", "bilinear"}), ("keepdims=t", {"true", "false"}),
                           ("bias=f", {"true", "false"})]:  # fmt: skip
        offered = await complete(client, uri, offset_of(text, written))
        assert words <= set(offered), written


# --- formatting ---------------------------------------------------------------------------


async def test_formatting_gives_the_fmt_layout_and_nothing_for_a_formatted_file(client):
    text = "block stem=CN(32,3)->BN()\nsmall=stem*2->MP(2)->FL()->DN(128)\n"
    uri = await open_document(client, text)
    options = lsp.FormattingOptions(4, True)
    (edit,) = await client.text_document_formatting_async(
        lsp.DocumentFormattingParams(lsp.TextDocumentIdentifier(uri), options)
    )
    assert edit.new_text == "block stem = CN(32, 3) -> BN()\nsmall = stem * 2 -> MP(2) -> FL() -> DN(128)\n"
    uri = await open_document(client, edit.new_text)
    again = await client.text_document_formatting_async(
        lsp.DocumentFormattingParams(lsp.TextDocumentIdentifier(uri), options)
    )
    assert list(again) == []


async def test_range_formatting_touches_only_the_definitions_in_the_range(client):
    text = "block stem=CN(32,3)->BN()\nsmall=stem*2->MP(2)->FL()->DN(128)\n"
    uri = await open_document(client, text)
    (edit,) = await client.text_document_range_formatting_async(
        lsp.DocumentRangeFormattingParams(
            lsp.TextDocumentIdentifier(uri), lsp.Range(at(1, 0), at(1, 3)), lsp.FormattingOptions(4, True)
        )
    )
    assert edit.range == lsp.Range(at(1, 0), at(1, 34))
    assert edit.new_text == "small = stem * 2 -> MP(2) -> FL() -> DN(128)"


# --- names --------------------------------------------------------------------------------


async def test_definition_references_and_rename_of_a_block(client):
    uri = await open_document(client, NETS, "nets.cnn")
    doc = lsp.TextDocumentIdentifier(uri)
    use = offset_of(NETS, "stem -> CN(64)", after=False)
    (target,) = [await client.text_document_definition_async(lsp.DefinitionParams(doc, use))]
    assert target.range == lsp.Range(at(1, 6), at(1, 10))
    found = await client.text_document_references_async(
        lsp.ReferenceParams(text_document=doc, position=use, context=lsp.ReferenceContext(include_declaration=True))
    )
    assert sorted((r.range.start.line, r.range.start.character) for r in found) == [(1, 6), (3, 8), (4, 7)]
    edit = await client.text_document_rename_async(lsp.RenameParams(doc, use, "trunk"))
    assert sorted((e.range.start.line, e.range.start.character, e.new_text) for e in edit.changes[uri]) == [
        (1, 6, "trunk"),
        (3, 8, "trunk"),
        (4, 7, "trunk"),
    ]
    with pytest.raises(Exception, match="layer code"):
        await client.text_document_rename_async(lsp.RenameParams(doc, use, "gap"))
    for taken in ("small", "block", "2x"):
        with pytest.raises(Exception, match="already defined|not a name"):
            await client.text_document_rename_async(lsp.RenameParams(doc, use, taken))


async def test_a_refused_rename_is_one_line_in_the_servers_log_not_a_traceback(tmp_path):
    log = tmp_path / "server.log"
    command = f'exec "{sys.executable}" -m cnndsl lsp 2> "{log}"'
    own = await ClientServerConfig(server_command=["sh", "-c", command]).start()
    params = lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), root_uri=ROOT.as_uri())
    await own.initialize_session(params)
    uri = (tmp_path / "nets.cnn").as_uri()
    own.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "cnndsl", 1, NETS)))
    use = offset_of(NETS, "stem -> CN(64)", after=False)
    with pytest.raises(Exception, match="layer code"):
        await own.text_document_rename_async(lsp.RenameParams(lsp.TextDocumentIdentifier(uri), use, "gap"))
    await own.shutdown_session()
    logged = log.read_text("utf-8").splitlines()
    assert len(logged) == 1 and "Traceback" not in logged[0], logged
    assert "rename refused" in logged[0] and "'gap' is a layer code" in logged[0]


async def test_document_symbols_are_the_models_and_blocks_with_their_counts(client):
    uri = await open_document(client, NETS, "nets.cnn")
    symbols = await client.text_document_document_symbol_async(
        lsp.DocumentSymbolParams(lsp.TextDocumentIdentifier(uri))
    )
    assert [(s.name, s.kind, s.detail) for s in symbols] == [
        ("stem", lsp.SymbolKind.Function, "block, 2 layers"),
        ("small", lsp.SymbolKind.Class, "601,066 params"),
        ("wide", lsp.SymbolKind.Class, "19,594 params"),
    ]


# --- quick fixes --------------------------------------------------------------------------


async def actions_for(client, uri, text, needle, after=False) -> dict[str, lsp.CodeAction]:
    position = offset_of(text, needle, after=after)
    result = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            lsp.TextDocumentIdentifier(uri), lsp.Range(position, position), lsp.CodeActionContext(diagnostics=[])
        )
    )
    return {action.title: action for action in result}


def applied(text: str, action: lsp.CodeAction, uri: str) -> str:
    (edit,) = action.edit.changes[uri]
    lines = text.split("\n")
    start = sum(len(line) + 1 for line in lines[: edit.range.start.line]) + edit.range.start.character
    end = sum(len(line) + 1 for line in lines[: edit.range.end.line]) + edit.range.end.character
    return text[:start] + edit.new_text + text[end:]


async def test_quick_fixes_apply_did_you_mean_insert_flatten_and_padding_same(client):
    text = "Cn(8) -> CN(8, paddng=same) -> CN(8, 30)\n"
    uri = await open_document(client, text)
    fixes = await actions_for(client, uri, text, "Cn(8)")
    assert applied(text, fixes["Change Cn to CN"], uri).startswith("CN(8) -> ")
    fixes = await actions_for(client, uri, text, "paddng")
    assert "CN(8, padding=same)" in applied(text, fixes["Change paddng to padding"], uri)
    text = "CN(8) -> CN(8, 30)\n"
    uri = await open_document(client, text)
    fixes = await actions_for(client, uri, text, "CN(8, 30)")
    fixed = applied(text, fixes["Use padding=same"], uri)
    assert fixed == "CN(8) -> CN(8, 30, padding=same)\n"
    uri = await open_document(client, "CN(8) -> MP(2)")
    fixes = await actions_for(client, uri, "CN(8) -> MP(2)", "MP(2)", after=True)  # the head is at the end
    fixed = applied("CN(8) -> MP(2)", fixes["Insert FL() before the classifier head"], uri)
    assert fixed == "CN(8) -> MP(2) -> FL()"
    assert applied("CN(8) -> MP(2)", fixes["Insert GAP() before the classifier head"], uri) == "CN(8) -> MP(2) -> GAP()"
    assert await change(client, uri, 2, fixed) == []
    text = "CN(8) -> MP(30) -> FL() -> DN(10, activation=rleu)"
    uri = await open_document(client, text)
    fixes = await actions_for(client, uri, text, "rleu")
    assert applied(text, fixes["Change rleu to relu"], uri).endswith("activation=relu)")
    uri = await open_document(client, "CN(8) -> MP(30) -> FL()")
    fixes = await actions_for(client, uri, "CN(8) -> MP(30) -> FL()", "MP(30)")
    assert applied("CN(8) -> MP(30) -> FL()", fixes["Use padding=same"], uri) == "CN(8) -> MP(30, padding=same) -> FL()"


async def test_a_keras_class_name_shows_its_code_and_a_fix_that_maps_its_arguments(client):
    text = "Conv2D(8, 3, dilation_rate=2) -> FL()\n"
    uri = await open_document(client, text)
    (diagnostic,) = [d for d in client.diagnostics[uri] if d.code == "unknown-layer"]
    assert "Keras's Conv2D is CN here: Conv2D(filters, kernel_size) -> CN(filters, kernel)" in diagnostic.message
    fixes = await actions_for(client, uri, text, "Conv2D")
    edits = sorted(fixes["Change Conv2D to CN"].edit.changes[uri], key=lambda edit: edit.range.start.character)
    fixed = text
    for edit in reversed(edits):  # one line: columns are offsets
        fixed = fixed[: edit.range.start.character] + edit.new_text + fixed[edit.range.end.character :]
    assert fixed == "CN(8, 3, dilation=2) -> FL()\n"


async def test_quick_fixes_are_the_diagnostics_own_never_guessed_from_their_words(client):
    text = "IN(28,28,1)->ADD(CN(8,3) | CN(8,5)->DP(0.1))->FL()"  # the merge's hint says padding=same
    uri = await open_document(client, text)
    (problem,) = list(client.diagnostics[uri])
    assert problem.code == "merge-shapes" and "padding=same" in problem.message
    assert await actions_for(client, uri, text, "DP(0.1)") == {}
    text = "(CN(8, 30) -> BN()) * 2 -> FL()"  # one fix for the layer, not one per copy
    uri = await open_document(client, text)
    fixes = await actions_for(client, uri, text, "CN(8, 30)")
    assert list(fixes) == ["Use padding=same"]
    assert applied(text, fixes["Use padding=same"], uri) == "(CN(8, 30, padding=same) -> BN()) * 2 -> FL()"


# --- Python files -------------------------------------------------------------------------


async def test_spec_literals_in_a_python_file_get_diagnostics_where_they_are(client):
    text = 'import cnndsl\n\nmodel = cnndsl.check("CN(8) -> Cn(3) -> FL()", input_shape=(32, 32, 3))\n'
    uri = await open_document(client, text, "train.py")
    (problem,) = list(client.diagnostics[uri])
    assert problem.message.startswith("unknown layer code 'Cn'")
    assert problem.range == lsp.Range(at(2, 31), at(2, 33))
    fixed = await change(client, uri, 2, text.replace("Cn(3)", "CN(3)"))
    assert fixed == []


async def test_a_merge_shows_its_output_shape_after_it(client):
    text = "CN(8, 3, padding=same) -> ADD(CN(8, 3, padding=same) -> BN() | ID()) -> CAT(CN(4, 1) | CN(2, 1)) -> GAP()"
    uri = await open_document(client, text)
    assert list(client.diagnostics[uri]) == []
    shown = {(character, label) for _, character, label in await hints(client, uri, text)}
    assert (text.index(" -> CAT"), "▸ 28×28×8") in shown  # after ADD(...)
    assert (text.index(" -> GAP"), "▸ 28×28×6") in shown  # after CAT(...): 4 + 2 channels


# --- hostile documents --------------------------------------------------------------------


def hostile_documents() -> list[str]:
    """The hardening inputs of test_limits and test_hostile, and valid specs cut off mid-edit."""
    import random

    from spec_strategies import PIECES, SEEDS
    from test_limits import REFUSED

    rng = random.Random(0)
    cut = [seed[: rng.randrange(len(seed))] for seed in SEEDS for _ in range(3)]
    noise = ["".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 40))) for _ in range(20)]
    files = [
        "a=\n" * 2000,
        "block b0 = CN(8)\n" + "".join(f"block b{i} = b{i - 1} * 2\n" for i in range(1, 70)) + "m = b69\n",
        "x = (\n" + "CN(8) ->\n" * 3000,
        "a = " + "q" * 50_000 + "(",
    ]
    return [text for text, *_ in REFUSED] + cut + noise + files


async def test_hostile_documents_never_crash_the_server(client):
    for text in hostile_documents():
        uri = await open_document(client, text)
        document = lsp.TextDocumentIdentifier(uri)
        lines = text.split("\n")
        middle = at(len(lines) // 2, len(lines[len(lines) // 2]) // 2)
        end = at(len(lines) - 1, len(lines[-1]))
        everything = lsp.Range(at(0, 0), end)
        await client.text_document_inlay_hint_async(lsp.InlayHintParams(document, everything))
        await client.text_document_hover_async(lsp.HoverParams(document, middle))
        await client.text_document_completion_async(lsp.CompletionParams(document, end))
        await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(document))
        await client.text_document_formatting_async(
            lsp.DocumentFormattingParams(document, lsp.FormattingOptions(4, True))
        )
        await client.text_document_code_action_async(
            lsp.CodeActionParams(document, everything, lsp.CodeActionContext([]))
        )
        await client.text_document_references_async(
            lsp.ReferenceParams(text_document=document, position=middle, context=lsp.ReferenceContext(True))
        )
        client.text_document_did_close(lsp.DidCloseTextDocumentParams(document))
    assert await hints(client, await open_document(client, "CN(8) -> FL()"), "CN(8) -> FL()")  # still serving


async def test_the_server_never_imports_a_framework():
    """Serving a session (every handler, on specs with merges, Python files and errors) loads no framework."""
    import subprocess

    code = (
        "import sys\n"
        "from lsprotocol import types as lsp\n"
        "from pygls.workspace import Workspace\n"
        "from cnndsl.lsp import server\n"
        "ls = server.build_server()\n"
        "ls.protocol._workspace = Workspace(None, lsp.TextDocumentSyncKind.Incremental)\n"
        "ls.text_document_publish_diagnostics = lambda params: None\n"
        f"texts = {{'a.cnn': {NETS!r}, 'b.cnn': 'ADD(CN(8) | ID()) -> Cn(3)', 'c.py': 'import cnndsl\\ncnndsl.check(\\'CN(8)\\')'}}\n"
        "for name, text in texts.items():\n"
        "    uri = 'file:///w/' + name\n"
        "    ls.workspace.put_text_document(lsp.TextDocumentItem(uri, 'x', 1, text))\n"
        "    server.refresh(ls, uri)\n"
        "    doc, at = lsp.TextDocumentIdentifier(uri), lsp.Position(1, 8)\n"
        "    server.hover(ls, lsp.HoverParams(doc, at)); server.completion(ls, lsp.CompletionParams(doc, at))\n"
        "    server.formatting(ls, lsp.DocumentFormattingParams(doc, lsp.FormattingOptions(4, True)))\n"
        "    server.document_symbols(ls, lsp.DocumentSymbolParams(doc))\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'torch', 'jax', 'numpy') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
