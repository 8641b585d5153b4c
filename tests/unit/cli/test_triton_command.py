"""`modelplane tritonserver` on the command line: Triton's flags pass through, ours are parsed,
and what cannot run is one line and exit status 1, before anything is started."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from modelplane.cli import main


def test_tritons_flags_pass_through_and_ours_are_parsed(tmp_path: Path) -> None:
    args = ["--model-repository=/m", "--host", "0.0.0.0", "--log-verbose", "1"]
    args += ["--cache-dir", str(tmp_path)]
    with main.cli.make_context("modelplane", ["tritonserver", *args]) as context:
        sub = main.cli.get_command(context, "tritonserver")
        assert sub is not None
        with sub.make_context("tritonserver", args) as parsed:
            assert parsed.params["triton_args"] == ("--model-repository=/m", "--log-verbose", "1")
            assert parsed.params["host"] == "0.0.0.0"
            assert parsed.params["cache_dir"] == tmp_path


def test_a_repository_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = CliRunner().invoke(
        main.cli,
        ["tritonserver", f"--model-repository={missing}", "--cache-dir", str(tmp_path)],
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and str(missing) in result.output


def test_no_repository_says_which_flag(tmp_path: Path) -> None:
    result = CliRunner().invoke(main.cli, ["tritonserver", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 1 and "--model-repository" in result.output
