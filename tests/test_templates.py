"""Templates: name validation, pane specs of a workspace, WezTerm layout plans."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from wzp_supervisor.config import (
    Config,
    PaneTemplate,
    ProcessDefaults,
    WorkspaceTemplate,
    builtin_config,
)
from wzp_supervisor.templates import (
    LAYOUTS,
    PaneSpec,
    expand_workspace,
    layout_plan,
    layout_slots,
    validate_name,
)

# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["a", "0", "agent-1", "web_dev", "a" * 63, "x1-_y"])
def test_valid_names(name: str) -> None:
    assert validate_name("pane", name) == name


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "is empty"),
        ("a" * 64, "too long (64 characters; at most 63)"),
        ("ws/pane", "must not contain '/'"),
        ("..", "must not contain '..'"),
        ("a..b", "must not contain '..'"),
        ("Agent", "must be lower case (try 'agent')"),
        ("-a", "must start with a letter or digit"),
        ("_a", "must start with a letter or digit"),
        ("a b", "contains ' '"),
        ("a.b", "contains '.'"),
        ("café", "contains 'é'"),
        (3, "must be a string"),
    ],
)
def test_invalid_names(name: Any, fragment: str) -> None:
    with pytest.raises(ValueError, match=r"^workspace name") as info:
        validate_name("workspace", name)
    assert fragment in str(info.value)


# --------------------------------------------------------------------------- expand_workspace


def test_expand_default(tmp_path: Path) -> None:
    cfg = builtin_config()
    specs = expand_workspace("demo", tmp_path, cfg.templates["default"], cfg)
    assert [s.target for s in specs] == ["demo/agent-1", "demo/agent-2", "demo/monitor"]
    agent, _, monitor = specs
    assert agent == PaneSpec(
        workspace="demo",
        pane="agent-1",
        target="demo/agent-1",
        position="left",
        argv=("claude",),
        agent="claude",
        supervised=True,
        shell=False,
        cwd=tmp_path,
        environment={},
        restart_policy="always",
        min_uptime=10.0,
        max_retries=5,
        backoff_max=60.0,
        graceful_timeout=10.0,
        rlimits={},
        isolation="none",
    )
    assert (monitor.argv, monitor.agent, monitor.supervised) == (("wzp", "top"), "none", False)


def test_expand_web_dev(tmp_path: Path) -> None:
    cfg = builtin_config()
    specs = expand_workspace("shop", tmp_path, cfg.templates["web_dev"], cfg)
    by_pane = {s.pane: s for s in specs}
    assert [s.position for s in specs] == list(layout_slots("four_pane_grid"))
    dev = by_pane["devserver"]
    assert (dev.argv, dev.agent, dev.supervised, dev.restart_policy) == (
        ("npm", "run", "dev"),
        "none",
        True,
        "on-failure",
    )
    assert by_pane["logs"].argv == ("wzp", "logs", "shop/devserver", "-f")
    assert by_pane["agent-2"].argv == ("claude",) and by_pane["agent-2"].agent == "claude"


def custom_config(template: WorkspaceTemplate) -> Config:
    processes = ProcessDefaults(
        command=("claude", "--model", "opus"),
        restart_policy="on-failure",
        min_uptime=3.0,
        max_retries=2,
        backoff_max=9.0,
        timeout=4.0,
        environment=MappingProxyType({"SHARED": "1", "ROLE": "default"}),
    )
    return Config(
        templates={template.name: template}, default_template=template.name, processes=processes
    )


def test_expand_overrides_environment_and_cwd(tmp_path: Path) -> None:
    template = WorkspaceTemplate(
        name="t",
        layout="four_pane_grid",
        isolation="worktree",
        rlimits=MappingProxyType({"nofile": 1024}),
        panes=(
            PaneTemplate(
                name="tail",
                position="bottom_right",
                command=("tail", "-f", "x"),
                agent="none",
                environment=MappingProxyType({"X": "y"}),
                cwd="logs/../out",
            ),
            PaneTemplate(
                name="main",
                position="top_left",
                restart_policy="never",
                min_uptime=0.0,
                max_retries=0,
                backoff_max=1.0,
                environment=MappingProxyType({"ROLE": "lead"}),
                cwd="/abs/elsewhere",
            ),
            PaneTemplate(
                name="sh",
                position="top_right",
                command=("echo {workspace} | wc",),
                agent="none",
                shell=True,
            ),
        ),
    )
    cfg = custom_config(template)
    main, sh, tail = expand_workspace("w1", tmp_path / "proj", template, cfg)
    assert [s.pane for s in (main, sh, tail)] == ["main", "sh", "tail"]  # slot order
    assert main.argv == ("claude", "--model", "opus")
    assert dict(main.environment) == {"SHARED": "1", "ROLE": "lead"}  # pane wins
    assert (main.restart_policy, main.min_uptime, main.max_retries, main.backoff_max) == (
        "never",
        0.0,
        0,
        1.0,
    )
    assert main.cwd == Path("/abs/elsewhere")
    assert dict(tail.environment) == {"X": "y"}  # not an agent: no agent environment
    assert (tail.restart_policy, tail.min_uptime, tail.max_retries, tail.backoff_max) == (
        "on-failure",
        3.0,
        2,
        9.0,
    )
    assert tail.cwd == tmp_path / "proj" / "out"
    assert sh.argv == ("echo w1 | wc",) and sh.shell
    for spec in (main, sh, tail):
        assert spec.graceful_timeout == 4.0
        assert dict(spec.rlimits) == {"nofile": 1024} and spec.isolation == "worktree"
        assert spec.cwd.is_absolute()


def test_expand_relative_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = builtin_config()
    specs = expand_workspace("demo", Path("rel"), cfg.templates["default"], cfg)
    assert specs[0].cwd == tmp_path / "rel"


def test_expand_refuses_bad_workspace_name(tmp_path: Path) -> None:
    cfg = builtin_config()
    with pytest.raises(ValueError, match="workspace name"):
        expand_workspace("Bad/Name", tmp_path, cfg.templates["default"], cfg)


# --------------------------------------------------------------------------- layout_plan


def full_template(layout: str) -> WorkspaceTemplate:
    panes = tuple(
        PaneTemplate(name=f"p-{slot}".replace("_", "-"), position=slot)
        for slot in reversed(layout_slots(layout))  # order in the file does not matter
    )
    return WorkspaceTemplate(name="tpl", layout=layout, panes=panes)


def check_tree(plan: dict[str, Any]) -> None:
    """Only the first pane is spawned; every other splits an earlier pane."""
    panes = plan["panes"]
    first = panes[0]
    assert (first["split_from"], first["direction"], first["size"]) == (None, None, None)
    for index, pane in enumerate(panes[1:], 1):
        earlier = [p["pane"] for p in panes[:index]]
        assert pane["split_from"] in earlier
        assert pane["direction"] in ("Right", "Left", "Top", "Bottom")
        assert 0 < pane["size"] < 1
    assert len({p["pane"] for p in panes}) == len(panes)
    json.dumps(plan)  # plain JSON


EXPECTED_SPLITS: dict[str, list[tuple[str, str | None, str | None]]] = {
    "single": [("main", None, None)],
    "two_pane_horizontal": [("left", None, None), ("right", "left", "Right")],
    "two_pane_vertical": [("top", None, None), ("bottom", "top", "Bottom")],
    "three_pane_horizontal": [
        ("left", None, None),
        ("center", "left", "Right"),
        ("right", "center", "Right"),
    ],
    "main_and_stack": [
        ("left", None, None),
        ("top_right", "left", "Right"),
        ("bottom_right", "top_right", "Bottom"),
    ],
    "four_pane_grid": [
        ("top_left", None, None),
        ("top_right", "top_left", "Right"),
        ("bottom_left", "top_left", "Bottom"),
        ("bottom_right", "top_right", "Bottom"),
    ],
}


def test_every_layout_is_expected() -> None:
    assert set(EXPECTED_SPLITS) == set(LAYOUTS)


@pytest.mark.parametrize("layout", sorted(EXPECTED_SPLITS))
def test_layout_plan_all_layouts(layout: str, tmp_path: Path) -> None:
    plan = layout_plan("ws", full_template(layout), tmp_path)
    check_tree(plan)
    name = {slot: f"p-{slot}".replace("_", "-") for slot in layout_slots(layout)}
    got = [(p["pane"], p["split_from"], p["direction"]) for p in plan["panes"]]
    want = [
        (name[slot], name[parent] if parent else None, direction)
        for slot, parent, direction in EXPECTED_SPLITS[layout]
    ]
    assert got == want
    sizes = {"three_pane_horizontal": [2 / 3, 0.5]}  # three equal columns
    want_sizes = sizes.get(layout, [0.5] * (len(want) - 1))
    assert [p["size"] for p in plan["panes"][1:]] == want_sizes
    assert (plan["version"], plan["workspace"], plan["template"], plan["layout"]) == (
        1,
        "ws",
        "tpl",
        layout,
    )
    assert plan["cwd"] == str(tmp_path)
    for pane in plan["panes"]:
        assert pane["command"] == ["wzp", "attach", f"ws/{pane['pane']}"]
        assert pane["target"] == f"ws/{pane['pane']}" and pane["supervised"] is True


@pytest.mark.parametrize(
    ("layout", "slots"),
    [
        (layout, subset)
        for layout in sorted(LAYOUTS)
        for size in range(1, len(LAYOUTS[layout]) + 1)
        for subset in itertools.combinations(layout_slots(layout), size)
    ],
)
def test_layout_plan_with_empty_slots(layout: str, slots: tuple[str, ...], tmp_path: Path) -> None:
    template = WorkspaceTemplate(
        name="t",
        layout=layout,
        panes=tuple(PaneTemplate(name=s.replace("_", "-"), position=s) for s in slots),
    )
    plan = layout_plan("ws", template, tmp_path)
    check_tree(plan)
    assert [p["pane"] for p in plan["panes"]] == [s.replace("_", "-") for s in slots]


def test_layout_plan_empty_slot_takes_parents_place(tmp_path: Path) -> None:
    template = WorkspaceTemplate(
        name="t",
        layout="main_and_stack",
        panes=(
            PaneTemplate(name="a", position="left"),
            PaneTemplate(name="b", position="bottom_right"),
        ),
    )
    b = layout_plan("ws", template, tmp_path)["panes"][1]
    assert (b["split_from"], b["direction"], b["size"]) == ("a", "Right", 0.5)


def test_layout_plan_matches_contract_example() -> None:
    base = builtin_config().templates["default"]
    monitor = dataclasses.replace(base.panes[2], command=("htop",))
    template = dataclasses.replace(base, panes=(*base.panes[:2], monitor))
    assert layout_plan("demo", template, Path("/abs/dir")) == {
        "version": 1, "workspace": "demo", "template": "default",
        "layout": "three_pane_horizontal", "cwd": "/abs/dir",
        "panes": [
            {"pane": "agent-1", "split_from": None, "direction": None, "size": None,
             "supervised": True, "command": ["wzp", "attach", "demo/agent-1"],
             "target": "demo/agent-1"},
            {"pane": "agent-2", "split_from": "agent-1", "direction": "Right", "size": 2 / 3,
             "supervised": True, "command": ["wzp", "attach", "demo/agent-2"],
             "target": "demo/agent-2"},
            {"pane": "monitor", "split_from": "agent-2", "direction": "Right", "size": 0.5,
             "supervised": False, "command": ["htop"], "target": None},
        ],
    }  # fmt: skip


def test_layout_plan_unsupervised_commands(tmp_path: Path) -> None:
    wzp = ("/venv/bin/python", "-m", "wzp_supervisor")
    web = builtin_config().templates["web_dev"]
    plan = layout_plan("web_dev", web, tmp_path, wzp_argv=wzp)  # a template: no workspace yet
    by_pane = {p["pane"]: p for p in plan["panes"]}
    assert by_pane["logs"]["command"] == [*wzp, "logs", "web_dev/devserver", "-f"]
    assert by_pane["logs"]["target"] is None
    assert by_pane["devserver"]["command"] == [*wzp, "attach", "web_dev/devserver"]
    shell = WorkspaceTemplate(
        name="s",
        layout="two_pane_vertical",
        panes=(
            PaneTemplate(name="a", position="top", supervised=False),
            PaneTemplate(
                name="b",
                position="bottom",
                command=("wzp ls | less {workspace}",),
                agent="none",
                shell=True,
                supervised=False,
            ),
        ),
    )
    a, b = layout_plan("x", shell, tmp_path, default_command=("claude", "-c"))["panes"]
    assert a["command"] == ["claude", "-c"]
    assert b["command"] == ["sh", "-c", "wzp ls | less x"]
