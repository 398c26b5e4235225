"""A second judge nobody here wrote: checkov's CloudFormation checks pass on every rendered
template, and each check a template skips carries its reason in the template itself
(``Metadata: checkov: skip: [{id, comment}]`` on the resource).

checkov lives in a virtual environment of its own (``.tools/checkov``, made by
``scripts/install-tools.sh``), because its pinned dependencies would clash with ours.
"""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import COMBOS, golden_name, rendered_case

CHECKOV = Path(__file__).resolve().parents[2] / ".tools" / "checkov" / "bin" / "checkov"
# Every check a template may skip, reviewed; a new skip must be added here on purpose.
REVIEWED_SKIPS = {
    "CKV_AWS_18",  # the access-log bucket does not log access to itself
    "CKV_AWS_31",  # IAM authentication to ElastiCache instead of an AUTH token
    # A Function URL invokes synchronously: a DLQ catches nothing. The monitor's scheduled
    # round that fails is followed by the next within minutes: a stale event helps no one.
    "CKV_AWS_116",
    "CKV_AWS_117",  # Lambda with in-memory state needs no VPC
    "CKV_AWS_149",  # Secrets Manager's AWS managed key for the cache token and client secret
    "CKV_AWS_258",  # the Function URL takes OAuth bearer tokens, checked by the app
    "CKV_AWS_260",  # port 80 only redirects to HTTPS
}


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, list[Any]]]:
    """checkov run once over every rendered template; its verdicts by template."""
    if not CHECKOV.exists():
        pytest.fail("checkov is not installed: run scripts/install-tools.sh")
    folder = tmp_path_factory.mktemp("templates")
    for combo in COMBOS:
        text = rendered_case(*combo).rendered.files["template.yaml"]
        (folder / f"{golden_name(combo)}.yaml").write_text(text, encoding="utf-8")
    done = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(folder),
            "--framework",
            "cloudformation",
            "--compact",
            "--skip-download",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    results = json.loads(done.stdout)["results"]
    out: dict[str, dict[str, list[Any]]] = defaultdict(lambda: {"failed": [], "skipped": []})
    for kind in ("failed", "skipped"):
        for check in results.get(f"{kind}_checks", []):
            out[Path(check["file_path"]).stem][kind].append(check)
    assert results.get("parsing_errors", []) == []
    return out


@pytest.fixture(params=COMBOS, ids=[golden_name(c) for c in COMBOS])
def template_name(request: pytest.FixtureRequest) -> str:
    return golden_name(request.param)


def test_checkov_finds_nothing(verdicts: dict[str, Any], template_name: str) -> None:
    """No checkov CloudFormation check fails on the rendered template."""
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}"
        for c in verdicts[template_name]["failed"]
    ]
    assert failed == []


def test_every_skip_says_why(verdicts: dict[str, Any], template_name: str) -> None:
    """Each skipped check is a reviewed one and carries its reason in the template."""
    for check in verdicts[template_name]["skipped"]:
        assert check["check_id"] in REVIEWED_SKIPS, check["check_id"]
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 40, check["check_id"]  # checkov's default is "No comment provided"


def test_skips_are_written_where_checkov_reads_them() -> None:
    """A skip is Metadata.checkov.skip on the resource, with an id and a comment."""
    template = rendered_case("docs", "lambda", "memory").template
    skips = template["Resources"]["FunctionUrl"]["Metadata"]["checkov"]["skip"]
    assert [set(s) for s in skips] == [{"id", "comment"}]
    assert skips[0]["id"] == "CKV_AWS_258"
