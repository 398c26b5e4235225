"""NAME_SECRET_ARN variables are read from Secrets Manager (moto's server, on loopback) at start."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from mcpfleet.config import Config
from mcpfleet.errors import ConfigError
from mcpfleet.protocol.request_state import KeyRing, open_request_state, request_binding
from tests.conftest import ROOT, serving
from tests.moto_support import FAKE_AWS, moto_server
from tests.wire import call, meta

KEY = b"s" * 32
KEYS_TEXT = "fromsm:" + base64.b64encode(KEY).decode()
MISSING_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-secret-AbCdEf"


@pytest.fixture(scope="module")
def secrets_api() -> Iterator[tuple[str, dict[str, str]]]:
    """A moto server holding two secrets; yields its URL and NAME -> secret ARN."""
    with moto_server() as url:
        client = boto3.client("secretsmanager", endpoint_url=url, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        arns = {name: client.create_secret(Name=f"docs/{name}", SecretString=value)["ARN"]
                for name, value in (("keys", KEYS_TEXT), ("db", "postgres://u:pw@db/docs"))}
        yield url, arns


@pytest.fixture
def aws_env(secrets_api: tuple[str, dict[str, str]],
            monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Fake credentials in this process's environment; returns them with the endpoint."""
    env = {**FAKE_AWS, "AWS_ENDPOINT_URL": secrets_api[0]}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SECRETSMANAGER", raising=False)
    return env


def test_from_env_resolves_a_secret_arn(aws_env: dict[str, str],
                                        secrets_api: tuple[str, dict[str, str]]) -> None:
    """REQUEST_STATE_KEYS_SECRET_ARN fills REQUEST_STATE_KEYS, which becomes the key ring."""
    config = Config.from_env({**aws_env, "REQUEST_STATE_KEYS_SECRET_ARN": secrets_api[1]["keys"]})
    assert config.request_state_keys.signing.key_id == "fromsm"
    assert config.request_state_keys.secret("fromsm") == KEY


def test_os_environ_gets_the_value(aws_env: dict[str, str],
                                   secrets_api: tuple[str, dict[str, str]],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading os.environ, DATABASE_URL_SECRET_ARN sets DATABASE_URL there, for the app."""
    import os

    monkeypatch.setenv("DATABASE_URL", "")  # empty counts as unset; undone after the test
    monkeypatch.setenv("DATABASE_URL_SECRET_ARN", secrets_api[1]["db"])
    Config.from_env()
    assert os.environ["DATABASE_URL"] == "postgres://u:pw@db/docs"


def test_a_set_variable_is_not_fetched(aws_env: dict[str, str]) -> None:
    """A NAME already set wins over NAME_SECRET_ARN, which is then not even fetched."""
    env = {**aws_env, "REQUEST_STATE_KEYS": KEYS_TEXT, "REQUEST_STATE_KEYS_SECRET_ARN": MISSING_ARN}
    assert Config.from_env(env).request_state_keys.secret("fromsm") == KEY


def test_a_missing_secret_names_the_variable(aws_env: dict[str, str]) -> None:
    """A secret that does not exist is a ConfigError naming the variable and the reason."""
    with pytest.raises(ConfigError) as caught:
        Config.from_env({**aws_env, "DATABASE_URL_SECRET_ARN": MISSING_ARN})
    message = str(caught.value)
    assert message.startswith("DATABASE_URL_SECRET_ARN: cannot read secret ")
    assert "ResourceNotFoundException" in message


def test_access_denied_names_the_variable_not_the_value() -> None:
    """AccessDenied is a ConfigError naming the variable and the reason, never the value."""
    # IAM is enforced after the first three actions: the secret, the user and its key.
    with moto_server({"INITIAL_NO_AUTH_ACTION_COUNT": "3"}) as url:
        root: dict[str, Any] = {"endpoint_url": url, "region_name": "us-east-1",
                                "aws_access_key_id": "testing",
                                "aws_secret_access_key": "testing"}
        arn = boto3.client("secretsmanager", **root).create_secret(
            Name="locked", SecretString="hunter2-value")["ARN"]
        iam = boto3.client("iam", **root)
        iam.create_user(UserName="nobody")
        key = iam.create_access_key(UserName="nobody")["AccessKey"]
        env = {"AWS_ENDPOINT_URL": url, "DATABASE_URL_SECRET_ARN": arn}
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
            patch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
            with pytest.raises(ConfigError) as caught:
                Config.from_env(env)
    message = str(caught.value)
    assert message.startswith("DATABASE_URL_SECRET_ARN: cannot read secret ")
    assert "AccessDenied" in message
    assert "hunter2" not in message


def test_without_boto3_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """With boto3 not importable, a *_SECRET_ARN fails with a ConfigError naming the extra."""
    monkeypatch.setitem(sys.modules, "boto3", None)  # makes ``import boto3`` fail
    with pytest.raises(ConfigError, match=r"DATABASE_URL_SECRET_ARN: .*mcpfleet\[deploy\]"):
        Config.from_env({"DATABASE_URL_SECRET_ARN": MISSING_ARN})


def test_boto3_is_not_imported_without_secret_arns() -> None:
    """Config.from_env with no *_SECRET_ARN leaves boto3 unimported."""
    code = ("import sys; from mcpfleet.config import Config; Config.from_env({}); "
            "print('boto3' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_served_app_seals_with_the_fetched_keys(aws_env: dict[str, str],
                                                secrets_api: tuple[str, dict[str, str]]) -> None:
    """mcpfleet serve fetches REQUEST_STATE_KEYS at start and seals MRTR requestState with it."""
    env = {**aws_env, "REQUEST_STATE_KEYS": "",
           "REQUEST_STATE_KEYS_SECRET_ARN": secrets_api[1]["keys"]}
    with serving("tests.apps.behaviours:app", env) as server:
        params = {"name": "ask_name", "arguments": {},
                  "_meta": meta(capabilities={"elicitation": {}})}
        result = call(server.url, "tools/call", params).json()["result"]
    assert result["resultType"] == "input_required"
    state = result["requestState"]
    assert state.split(".")[1] == "fromsm"
    ring = KeyRing.from_text(KEYS_TEXT)
    binding = request_binding("tools/call", "ask_name", None)
    assert open_request_state(state, ring=ring, binding=binding, now=time.time()) is not None


def test_serve_fails_at_start_on_a_missing_secret(aws_env: dict[str, str]) -> None:
    """mcpfleet serve exits non-zero, naming the variable, when a secret cannot be read."""
    done = subprocess.run(
        [sys.executable, "-m", "mcpfleet", "serve", "tests.apps.behaviours:app",
         "--port", "0"],
        cwd=ROOT, env={**aws_env, "PATH": "/usr/bin:/bin", "DATABASE_URL_SECRET_ARN": MISSING_ARN},
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "DATABASE_URL_SECRET_ARN: cannot read secret" in done.stderr
    assert "Traceback" not in done.stderr
