"""Files in the folder being checked are read and parsed, never imported or run.

An attacker's repository holds a Python file whose import would leave a mark, and
modules named like those cnndsl loads lazily (``json.py``, ``difflib.py``, ``tomllib.py``,
``lark.py``, ...), each of which would leave its own mark if imported. ``cnndsl check``
and the language server, started inside that folder, check everything and leave none.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from helpers import record_diagnostics, wait_for_diagnostics
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

pytestmark = pytest.mark.slow

PLANTED = ["json", "difflib", "tomllib", "lark", "unicodedata", "pprint", "dataclasses", "typing", "inspect", "pathlib",
           "keras", "tensorflow"]  # fmt: skip
EVIL = """\
import pathlib
pathlib.Path(__file__).with_name("MARK-evil").write_text("imported")
import cnndsl

cnndsl.check("CN(8) -> Cn(3) -> CN(8, paddng=same) -> FL() -> DN(10)")
cnndsl.check("CN(8) -> -> FL()")
cnndsl.check("CN(8) -> FL()", num_classes=__import__("os").system("touch MARK-system"))
"""


def plant(folder: Path) -> Path:
    """A workspace with the attacker's files; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in PLANTED:
        (folder / f"{name}.py").write_text(f"open({str(folder / ('MARK-' + name))!r}, 'w').write('imported')\n")
    (folder / "evil.py").write_text(EVIL)
    (folder / "nets.cnn").write_text("block s = CN(8) -> BN()\nm = s * 2 -> Cn(3) -> FL() -> DN(10)\n")
    (folder / "pyproject.toml").write_text("[tool.cnndsl]\nmax-params = 10\nclasses = 7\n")
    return folder


def marks(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("MARK-*"))


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_cnndsl_check_inside_an_attackers_folder_runs_nothing_of_it(tmp_path, fmt):
    folder = plant(tmp_path / "repo")
    result = subprocess.run(
        [sys.executable, "-m", "cnndsl", "check", "--format", fmt, "evil.py", "nets.cnn"],
        capture_output=True,
        text=True,
        cwd=folder,
    )
    assert result.returncode == 1, result.stderr
    assert "Cn" in result.stdout + result.stderr  # both files were checked, misspellings suggested
    assert marks(folder) == []


def test_a_python_file_nested_too_deeply_to_parse_is_a_usage_error(tmp_path):
    path = tmp_path / "deep.py"
    path.write_text("x = " + "-" * 100_000 + "1\n")
    result = subprocess.run([sys.executable, "-m", "cnndsl", "check", str(path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == f"cnndsl: error: {path}: not valid Python (too deeply nested for Python's parser)"


# --- the language server, started inside the folder -------------------------------------------

WORKSPACE = plant(Path(tempfile.mkdtemp(prefix="cnndsl-untrusted-")) / "repo")


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(
        server_command=["sh", "-c", f'cd "{WORKSPACE}" && exec "{sys.executable}" -m cnndsl lsp'],
    ),
)
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(
        lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), root_uri=WORKSPACE.as_uri())
    )
    record_diagnostics(lsp_client)
    yield
    await lsp_client.shutdown_session()


@pytest.mark.asyncio(loop_scope="module")
async def test_the_language_server_checks_an_attackers_files_and_runs_none(client):
    for name in ("evil.py", "nets.cnn"):
        uri = (WORKSPACE / name).as_uri()
        text = (WORKSPACE / name).read_text()
        seen = len(client.published)
        client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "x", 1, text)))
        diagnostics = await wait_for_diagnostics(client, uri, seen)
        assert any("unknown layer code 'Cn'" in d.message for d in diagnostics)
        position = lsp.Position(1, 12) if name == "nets.cnn" else lsp.Position(5, 20)
        document = lsp.TextDocumentIdentifier(uri)
        await client.text_document_hover_async(lsp.HoverParams(document, position))
        await client.text_document_completion_async(lsp.CompletionParams(document, position))
        await client.text_document_code_action_async(
            lsp.CodeActionParams(document, lsp.Range(position, position), lsp.CodeActionContext([]))
        )
    assert marks(WORKSPACE) == []
