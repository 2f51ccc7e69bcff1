"""status.json and ui.json carry the per-user token the plugin checks them by."""

from __future__ import annotations

import json
import stat

from tests.conftest import WzpEnv


def test_status_and_ui_files_carry_the_private_token(daemon: WzpEnv) -> None:
    token_file = daemon.state_dir / "plugin.token"
    token = token_file.read_text().strip()
    assert len(token) == 32 and int(token, 16) >= 0
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

    def status_token() -> str | None:
        doc = json.loads((daemon.runtime_dir / "status.json").read_bytes())
        value = doc.get("token")
        return value if isinstance(value, str) else None

    assert daemon.wait_for(status_token, what="status.json written") == token
    ui = json.loads((daemon.runtime_dir / "ui.json").read_bytes())
    assert ui["token"] == token
    daemon.wzp("down", check=True)
    daemon.wzp("up", check=True)  # the same token across restarts
    assert daemon.wait_for(status_token, what="status.json written again") == token
