"""The README's deployment walk-through renders as written, and its deploy up names every
parameter the rendered template needs that deploy up does not fill in itself."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from cfnlint.decode.cfn_yaml import loads
from click.testing import CliRunner

from mcpfleet.deploy.cli import deploy

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def command(name: str) -> list[str]:
    """The walk-through's ``mcpfleet deploy NAME`` command, as arguments after ``deploy``."""
    section = README[README.index("### From a laptop to a running fleet") :]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    assert block is not None
    joined = block.group(1).replace("\\\n", " ")
    [line] = [ln for ln in joined.splitlines() if f"mcpfleet deploy {name} " in ln]
    words = shlex.split(line.split("mcpfleet deploy ", 1)[1], comments=True)
    return words


def test_walkthrough_render_renders(tmp_path: Path) -> None:
    """The README's deploy render command succeeds and gives the Route 53 alias."""
    args = command("render")
    out = args.index("--out")
    args[out + 1] = str(tmp_path)
    result = CliRunner().invoke(deploy, args)
    assert result.exit_code == 0, result.output
    template = loads((tmp_path / "template.yaml").read_text())
    assert template["Parameters"]["DomainName"]["Default"] == "mcp.example.com"


def test_walkthrough_up_gives_every_required_parameter(tmp_path: Path) -> None:
    """Every parameter without a default is in the README's deploy up, but ImageDigest,
    which deploy up fills in from the tag."""
    args = command("render")
    args[args.index("--out") + 1] = str(tmp_path)
    assert CliRunner().invoke(deploy, args).exit_code == 0
    template = loads((tmp_path / "template.yaml").read_text())
    required = {name for name, p in template["Parameters"].items() if "Default" not in p} - {
        "ImageDigest"
    }
    up = command("up")
    given = {up[i + 1].split("=", 1)[0] for i, word in enumerate(up) if word == "--param"}
    assert required <= given, required - given
