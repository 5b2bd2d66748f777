"""What the language server's start costs: the protocol's types built from methods kept between starts.

``lsprotocol.types`` has attrs compile the methods of its 576 classes on every import; the
server keeps the compiled methods in the user's cache folder (:mod:`cnndsl.lsp.codecache`).
Each start here is a fresh interpreter, as an editor starts the server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lsprotocol")

BUILD = """
import json, sys
from pathlib import Path
if sys.argv[1] == "-":
    from lsprotocol import types as lsp
    counts = {}
else:
    from cnndsl.lsp.codecache import kept_attrs_methods
    with kept_attrs_methods(Path(sys.argv[1])) as counts:
        from lsprotocol import types as lsp
from lsprotocol.converters import get_converter

converter = get_converter()
made = lsp.Diagnostic(lsp.Range(lsp.Position(1, 2), lsp.Position(3, 4)), "m", severity=lsp.DiagnosticSeverity.Error,
                      code="shape", source="cnndsl")
again = converter.structure(converter.unstructure(made), lsp.Diagnostic)
init = type(made).__init__.__code__
print(json.dumps({**counts, "repr": repr(made), "data": converter.unstructure(made), "equal": again == made,
                  "other": made == lsp.Diagnostic(made.range, "n"), "fields": [(a.name, a.alias, str(a.type)) for a in lsp.Diagnostic.__attrs_attrs__],
                  "source": __import__("linecache").getline(init.co_filename, init.co_firstlineno)}))
"""


def start(cache: str | Path) -> dict:
    """Import the protocol's types in a fresh interpreter (``-``: as attrs builds them itself); what it says."""
    done = subprocess.run([sys.executable, "-c", BUILD, str(cache)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_second_start_builds_every_type_from_the_kept_methods_and_they_behave_as_compiled(tmp_path):
    cache = tmp_path / "cache" / "methods.marshal"
    first, second, plain = start(cache), start(cache), start("-")
    assert first["compiled"] > 500 and first["kept"] == 0  # every class's methods compiled, then kept
    assert second["kept"] == first["compiled"] and second["compiled"] == 0
    assert oct(cache.stat().st_mode & 0o777) == "0o600" and oct(cache.parent.stat().st_mode & 0o777) == "0o700"
    for run in (first, second):
        assert {key: run[key] for key in plain} == plain
    assert plain["equal"] and not plain["other"] and plain["source"].strip().startswith("def __init__(")


def test_the_kept_methods_are_exactly_what_compiling_their_source_gives(tmp_path):
    import marshal

    from attr import _make

    from cnndsl.lsp.codecache import FUTURE_FLAGS

    start(tmp_path / "methods.marshal")
    kept = marshal.loads((tmp_path / "methods.marshal").read_bytes())
    flags = _make._compile_and_eval.__code__.co_flags & FUTURE_FLAGS
    for key, code in list(kept.items())[::25]:
        filename, _, script = key.partition("\n")
        assert code == compile(script, filename, "exec", flags=flags, dont_inherit=True)


@pytest.mark.parametrize("spoil", ["writable by others", "not a cache"])
def test_a_cache_file_others_may_write_or_that_is_not_one_is_never_used(tmp_path, spoil):
    cache = tmp_path / "methods.marshal"
    start(cache)
    if spoil == "writable by others":
        os.chmod(cache, 0o666)
    else:
        cache.write_bytes(b"\x00 not marshal data")
    again = start(cache)
    assert again["kept"] == 0 and again["compiled"] > 500  # compiled as attrs always does, and kept anew
    assert start(cache)["kept"] == again["compiled"]


@pytest.mark.parametrize("missing", ["attrs's function", "file owners"])
def test_an_attrs_without_the_function_or_a_system_without_owners_is_left_alone(monkeypatch, tmp_path, missing):
    from attr import _make

    from cnndsl.lsp.codecache import kept_attrs_methods

    def other(script, globs):  # another attrs's function of that name
        raise AssertionError("never called here")

    if missing == "file owners":  # Windows: no owner to check a cache file against
        monkeypatch.delattr(os, "getuid")
    else:
        monkeypatch.setattr(_make, "_compile_and_eval", other)
    before = _make._compile_and_eval
    with kept_attrs_methods(tmp_path / "methods.marshal") as counts:
        assert _make._compile_and_eval is before
    assert counts == {"kept": 0, "compiled": 0} and not (tmp_path / "methods.marshal").exists()


def test_the_cache_lives_in_the_users_cache_folder(monkeypatch, tmp_path):
    from cnndsl.lsp.codecache import cache_file

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_file().parent == tmp_path / "cnndsl" and sys.implementation.cache_tag in cache_file().name
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_file().parent == Path.home() / ".cache" / "cnndsl"


def message(payload: dict) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", **payload}).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def test_the_collector_waits_for_the_first_diagnostics_then_frees_the_starts_garbage_and_freezes_the_rest(
    tmp_path,
):
    """Collecting among the objects the start makes (nearly all of them live on) is time lost before the
    first diagnostics: the collector is off until they are out; then one collection frees the start's
    garbage (never frozen with the rest), what lives on is frozen, and the collector is on."""
    code = (
        "import gc, sys\n"
        "seen = []\n"
        "collect = gc.collect\n"
        "def watched(*args):\n"
        "    seen.append((gc.isenabled(), collect(*args), gc.get_freeze_count()))\n"
        "    return seen[-1][1]\n"
        "gc.collect = watched\n"
        "from cnndsl.cli import main\n"
        "code = main(['lsp'])\n"
        "print(code, seen, gc.isenabled(), gc.get_freeze_count(), file=sys.stderr)\n"
    )
    uri = (tmp_path / "model.cnn").as_uri()
    session = b"".join(
        message(payload)
        for payload in (
            {"id": 1, "method": "initialize", "params": {"processId": None, "rootUri": None, "capabilities": {}}},
            {"method": "initialized", "params": {}},
            {"method": "textDocument/didOpen",
             "params": {"textDocument": {"uri": uri, "languageId": "cnndsl", "version": 1, "text": "CN(8)->FL()"}}},
            {"id": 2, "method": "shutdown"},
            {"method": "exit"},
        )
    )  # fmt: skip
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], input=session, capture_output=True, env=env, cwd=tmp_path)
    said = done.stderr.decode().strip().splitlines()[-1]
    assert done.returncode == 0 and b"publishDiagnostics" in done.stdout, done.stderr.decode()
    exit_code, rest = said.split(" ", 1)
    collections, enabled, frozen = rest.rsplit(" ", 2)
    (off, freed, frozen_then), *later = eval(collections)
    assert exit_code == "0" and off is False  # the first collection: the collector was off until then
    assert freed > 1_000 and frozen_then == 0  # the start's garbage freed, before anything was frozen
    assert enabled == "True" and int(frozen) > 10_000 and not later  # then frozen, collecting as usual
