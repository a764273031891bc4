"""The README's promise to a new user: exactly two commands, each setting up `.venv` from scratch, one running
the main Yin-Yang study and one the tests, and CI (`.ci/run`) running that very test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUP = "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && "


def readme_commands() -> list[str]:
    section = ROOT.joinpath("README.md").read_text().split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_the_readme_gives_two_commands_that_set_up_the_venv_then_run_the_study_and_the_tests():
    study, tests = readme_commands()
    assert study == SETUP + ".venv/bin/snn-search run studies/yinyang-quick.toml"
    assert tests == SETUP + ".venv/bin/python -m pytest"
    assert (ROOT / "studies" / "yinyang-quick.toml").is_file()


def test_ci_runs_the_readme_s_test_command_verbatim():
    commands = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert commands[-1] == readme_commands()[1]


def test_ci_installs_chromium_and_then_requires_the_browser_test():
    """The browser test skips where Chromium is missing; in CI it must run, as the PostgreSQL tests must."""
    ci = (ROOT / ".ci" / "run").read_text()
    assert "apt-get install -y -qq chromium chromium-driver" in ci and "export SNN_TEST_REQUIRE_BROWSER=1" in ci
