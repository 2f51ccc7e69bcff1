"""`scripts/demo.sh`, the README's run command: it leaves `wzp` usable and every hint it
prints works when pasted into a shell."""

from __future__ import annotations

import subprocess

from tests.conftest import REPO, WzpEnv


def hints(stdout: str) -> list[str]:
    """The command lines (indented by two spaces) printed after the doctor's output."""
    tail = stdout[stdout.rindex("== wzp doctor") :]
    return [line[2:] for line in tail.splitlines() if line[:3].count(" ") == 2 and line[2] != " "]


def test_demo_puts_wzp_on_path_and_its_hints_work(wzp_env: WzpEnv) -> None:
    home = wzp_env.root / "home"
    home.mkdir()
    # a fresh login shell: no wzp, no pipx/uv, no claude on PATH
    env = {**wzp_env.env, "HOME": str(home), "PATH": "/usr/bin:/bin", "SHELL": "/bin/sh"}
    wzp_env.env.update(env)  # so the fixture's clean-up stops this daemon
    run = subprocess.run(
        ["bash", str(REPO / "scripts" / "demo.sh"), str(wzp_env.work)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "== wzp doctor" in run.stdout
    lines = hints(run.stdout)
    path_line = f'export PATH="{REPO}/.venv/bin:$PATH"'
    assert lines[0] == path_line
    assert "wzp attach demo/agent-1" in lines
    assert lines[-1] == "wzp down"
    for hint in lines[1:]:
        if hint.startswith("wzp attach"):
            continue  # needs a terminal; the same `wzp` as the others
        pasted = subprocess.run(
            ["bash", "-c", f"{path_line}\n{hint}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert pasted.returncode == 0, (hint, pasted.stdout, pasted.stderr)


def test_demo_installs_wzp_with_pipx_when_present(wzp_env: WzpEnv) -> None:
    home = wzp_env.root / "home"
    local_bin = home / ".local" / "bin"
    local_bin.mkdir(parents=True)
    tools = wzp_env.root / "tools"
    tools.mkdir()
    calls = wzp_env.root / "pipx-calls"
    # pipx stands in for itself: records its arguments, links the venv's wzp into ~/.local/bin
    (tools / "pipx").write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {calls}\n'
        'if [ "$1" = install ]; then '
        f"ln -sf {REPO}/.venv/bin/wzp {local_bin}/wzp; fi\n"
    )
    (tools / "pipx").chmod(0o755)
    path = f"{local_bin}:{tools}:/usr/bin:/bin"
    env = {**wzp_env.env, "HOME": str(home), "PATH": path, "SHELL": "/bin/sh"}
    wzp_env.env.update(env)
    run = subprocess.run(
        ["bash", str(REPO / "scripts" / "demo.sh"), str(wzp_env.work)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert calls.read_text().splitlines()[0] == f"install --force --editable {REPO}"
    assert "installed wzp with pipx" in run.stdout
    lines = hints(run.stdout)
    assert lines[0] == "wzp attach demo/agent-1"  # no PATH line needed
    pasted = subprocess.run(
        ["bash", "-c", lines[-1]], env=env, capture_output=True, text=True, timeout=60
    )
    assert pasted.returncode == 0, pasted.stderr
