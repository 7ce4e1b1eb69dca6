"""The shape of the house: which package and which layer of the bot may import which, no import
cycles, tests that share helpers only through harness modules, and README's copy of the settings table.

Data flows one way (Discord -> bot -> engine -> model); an arrow never points back up. The emulator
is a tool of its own: it knows nothing of the bot, and the bot reaches for it only to drive itself
(the playground and the offline self-test). Inside bot/, the layers of `LAYERS` point down too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import environment_table

REPO = Path(__file__).resolve().parents[1]
# Modules of bot/ that may import the emulator: they run the bot against it.
BOT_MODULES_USING_THE_EMULATOR = {"bot/devtools/playground.py", "bot/devtools/selftest.py"}
PACKAGES = ("bot", "charlm", "discord_emulator")

# The bot's layers, bottom first: each module belongs to the layer that names it or the package
# above it (the longest name wins; "bot" is bot/__init__.py alone).
LAYERS = {
    "foundation": {"bot", "bot.config", "bot.i18n", "bot.names"},
    "services": {"bot.storage", "bot.voices", "bot.ops", "bot.errors", "bot.answers"},
    "commands": {"bot.commands"},
    "runtime": {"bot.runtime"},
    "devtools": {"bot.devtools"},
    "command line": {"bot.__main__"},
}
# Layer -> the layers its modules may import at run time: its own and those below.
MAY_IMPORT = {
    "foundation": {"foundation"},
    "services": {"services", "foundation"},
    "commands": {"commands", "services", "foundation"},
    "runtime": {"runtime", "commands", "services", "foundation"},
    "devtools": {"devtools", "runtime", "commands", "services", "foundation"},
    "command line": set(LAYERS),
}
# The one exception: a command names the client in its type hints (under `if TYPE_CHECKING:`).
MAY_IMPORT_FOR_TYPES_ONLY = {"commands": {"runtime"}}


def imported_packages(path: Path) -> set[str]:
    """The top-level package of every import in a file, wherever in the file it is."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.partition(".")[0])
    return found


def imports_by_file(package: str) -> dict[str, set[str]]:
    return {str(path.relative_to(REPO)): imported_packages(path)
            for path in sorted((REPO / package).rglob("*.py"))}


def modules_of(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the packages under root."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def module_imports(name: str, path: Path, known: dict[str, Path]) -> dict[str, bool]:
    """The known modules `name` imports -> whether only for types (under `if TYPE_CHECKING:`).
    Imports anywhere count, inside functions too; relative imports are resolved; `from a import b`
    is module a.b when there is one, else a."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, bool] = {}

    def add(target: str, types_only: bool) -> None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            found[target] = found.get(target, True) and types_only

    def visit(node: ast.AST, types_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking_block(child):
                for inner in child.body:
                    visit_node(inner, True)
                for inner in child.orelse:
                    visit_node(inner, types_only)
            else:
                visit_node(child, types_only)

    def visit_node(node: ast.AST, types_only: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, types_only)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                full = f"{module}.{alias.name}"
                add(full if full in known else module, types_only)
        visit(node, types_only)

    visit(ast.parse(path.read_text(), filename=str(path)), False)
    return found


def import_graph(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, dict[str, bool]]:
    known = modules_of(root, packages)
    return {name: module_imports(name, path, known) for name, path in known.items()}


def layer_of(module: str) -> str | None:
    best, layer_found = "", None
    for layer, names in LAYERS.items():
        for name in names:
            owns = module == name or (name != "bot" and module.startswith(name + "."))
            if owns and len(name) > len(best):
                best, layer_found = name, layer
    return layer_found


def back_imports(graph: dict[str, dict[str, bool]]) -> set[tuple[str, str]]:
    """(importer, imported) for every import inside bot/ that points to a layer it may not import."""
    wrong = set()
    for module, imports in graph.items():
        if not (module == "bot" or module.startswith("bot.")):
            continue
        layer = layer_of(module)
        for target, types_only in imports.items():
            if not (target == "bot" or target.startswith("bot.")):
                continue
            allowed = MAY_IMPORT[layer] | (MAY_IMPORT_FOR_TYPES_ONLY.get(layer, set()) if types_only
                                           else set())
            if layer_of(target) not in allowed:
                wrong.add((module, target))
    return wrong


def run_time_cycles(graph: dict[str, dict[str, bool]]) -> list[set[str]]:
    """The groups of modules that import each other at run time (Tarjan's strongly connected
    components of more than one module; imports for types only left out)."""
    edges = {module: [t for t, types_only in imports.items() if not types_only]
             for module, imports in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in edges[module]:
            if target not in index:
                connect(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(group)

    for module in edges:
        if module not in index:
            connect(module)
    return groups


def test_imported_packages_sees_every_form_of_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import bot.runtime.client\nfrom charlm.engine import GenerationEngine\n"
                      "from . import x\ndef later():\n    import discord_emulator as e\n")
    assert imported_packages(sample) == {"bot", "charlm", "discord_emulator"}


@pytest.mark.parametrize(("package", "forbidden"), [
    ("charlm", {"bot", "discord_emulator", "discord", "aiosqlite", "train"}),
    ("discord_emulator", {"bot", "charlm", "discord", "train"}),
])
def test_lower_packages_import_nothing_above_them(package: str, forbidden: set[str]) -> None:
    files = imports_by_file(package)
    assert files, f"{package}/ has no modules"
    offenders = {name: sorted(imports & forbidden) for name, imports in files.items() if imports & forbidden}
    assert not offenders, f"{package} must not import {sorted(forbidden)}: {offenders}"


def test_the_bot_uses_the_emulator_only_to_drive_itself() -> None:
    users = {name for name, imports in imports_by_file("bot").items() if "discord_emulator" in imports}
    assert users == BOT_MODULES_USING_THE_EMULATOR
    assert not any("train" in imports for imports in imports_by_file("bot").values())


def test_every_bot_module_has_a_layer() -> None:
    unplaced = sorted(module for module in modules_of(REPO, ("bot",)) if layer_of(module) is None)
    assert not unplaced, f"add these modules to a layer of LAYERS in tests/test_layout.py: {unplaced}"


def test_the_bots_layers_point_down() -> None:
    wrong = back_imports(import_graph(REPO))
    assert not wrong, ("an import points up the bot's layers (see LAYERS and MAY_IMPORT in "
                       f"tests/test_layout.py): {sorted(wrong)}")


def test_no_import_cycles_at_run_time() -> None:
    cycles = run_time_cycles(import_graph(REPO))
    assert not cycles, f"these modules import each other at run time: {[sorted(c) for c in cycles]}"


def write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_back_import_and_the_cycle_it_makes_are_caught(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "bot/__init__.py": "",
        "bot/config.py": "",
        "bot/ops/__init__.py": "",
        "bot/ops/metrics.py": ("from bot import config\n\n"
                               "def later():\n    from ..runtime.client import Bot\n"),
        "bot/runtime/__init__.py": "",
        "bot/runtime/client.py": "from bot.ops.metrics import Metrics\n",
        "bot/commands/__init__.py": "",
        "bot/commands/about.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                  "    from bot.runtime.client import Bot\n"),
        "bot/voices/__init__.py": "",
        "bot/voices/cache.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                "    from bot.commands import about\n"),
    })
    graph = import_graph(tmp_path)
    # Upward at run time (even inside a function), and upward for types outside the commands: caught.
    # A command naming the client for its types: allowed.
    assert back_imports(graph) == {("bot.ops.metrics", "bot.runtime.client"),
                                   ("bot.voices.cache", "bot.commands.about")}
    assert run_time_cycles(graph) == [{"bot.ops.metrics", "bot.runtime.client"}]
    (tmp_path / "bot/ops/metrics.py").write_text("from bot import config\n")
    graph = import_graph(tmp_path)
    assert run_time_cycles(graph) == []
    assert back_imports(graph) == {("bot.voices.cache", "bot.commands.about")}


def imports_between_tests(root: Path) -> set[tuple[str, str]]:
    """(file, module) for every `test_*` module a file under tests/ imports: tests share their
    harness through conftest.py and harness modules, never through another test module."""
    found = set()
    for path in sorted((root / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                prefix = f"{node.module}." if node.module else ""
                names = [node.module or ""] + [prefix + alias.name for alias in node.names]
            found.update((str(path.relative_to(root)), name) for name in names
                         if name.rpartition(".")[2].startswith("test_"))
    return found


def test_no_test_module_imports_another() -> None:
    wrong = imports_between_tests(REPO)
    assert not wrong, f"move what these share into a conftest.py or harness module: {sorted(wrong)}"


def test_an_import_of_a_test_module_is_caught(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "tests/bot/test_a.py": "from tests.bot.harness import running_bot\nfrom tests.bot import test_b\n",
        "tests/bot/test_c.py": "def later():\n    from tests.bot.test_b import poem\n",
        "tests/bot/harness.py": "import pytest\n",
    })
    assert imports_between_tests(tmp_path) == {("tests/bot/test_a.py", "tests.bot.test_b"),
                                               ("tests/bot/test_c.py", "tests.bot.test_b")}
def test_readme_configuration_table_is_the_one_the_code_prints() -> None:
    readme = (REPO / "README.md").read_text()
    assert environment_table() in readme, (
        "README's configuration table differs from bot/config.py's ENVIRONMENT; paste the output of "
        "`python -c 'from bot.config import environment_table; print(environment_table())'`")


def test_readme_stays_short() -> None:
    assert len((REPO / "README.md").read_bytes()) < 12 * 1024, "README is for users; figures go in docs/"


def test_storage_and_the_error_tree_know_nothing_of_discord() -> None:
    """bot/storage/ (and bot/errors.py, whose tree storage raises) import no Discord library; the
    trainer reaches the database through bot.storage, never the client or the runner."""
    files = {**imports_by_file("bot/storage"), "bot/errors.py": imported_packages(REPO / "bot/errors.py")}
    assert "bot/storage/__init__.py" in files
    offenders = {name: sorted(imports & {"discord", "discord_emulator"}) for name, imports in files.items()
                 if imports & {"discord", "discord_emulator"}}
    assert not offenders, f"storage must not import Discord: {offenders}"
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, bot.errors, bot.storage, bot.storage.postgres_store, "
         "bot.storage.copy_to_postgres, bot.storage.timed, bot.voices.trainer; "
         "print(sorted(name for name in sys.modules if name.split('.')[0] == 'discord'"
         " or name in ('bot.client', 'bot.runner')))"],
        cwd=REPO, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]", loaded.stdout  # nor anything they import
    trainer = ast.parse((REPO / "bot/voices/trainer.py").read_text())
    modules = {node.module for node in ast.walk(trainer) if isinstance(node, ast.ImportFrom)}
    assert not modules & {"bot.client", "bot.runner"}, modules
