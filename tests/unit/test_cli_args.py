"""Bad input and a missing server get one clear line: non-positive numbers are refused up front, naming the flag
(a zero batch size looped forever), and a command whose MongoDB is down says so."""

import pytest

from paylake.cli import main
from paylake.generator.stream import GeneratorError, run
from paylake.settings import Settings


@pytest.mark.parametrize("argv", [
    ["generate", "--batch-size", "0"], ["generate", "--rate", "-1"], ["generate", "--speedup", "0"],
    ["train", "--rows", "-5"], ["train", "--epochs", "0"], ["reference", "--days", "x"],
])
def test_the_cli_refuses_non_positive_numbers(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and f"argument {argv[1]}" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["batch_size", "speedup", "rate"])
def test_the_generator_refuses_them_too(option: str) -> None:
    with pytest.raises(GeneratorError, match="must be positive"):
        run(Settings(), count=10, progress=False, **{option: 0})


def test_a_command_whose_mongodb_is_down_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from paylake.stack.process import free_port

    monkeypatch.setenv("PAYLAKE_MONGO_URI", f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=300")
    assert main(["archive", "status"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("paylake: error: MongoDB unreachable:") and "Traceback" not in err


@pytest.mark.parametrize(("argv", "code", "says"), [
    (["generate", "--count", "1", "--start", "yesterday"], 2, "--start must be an ISO date/time"),
    (["train", "--csv", "no/such/table.csv"], 2, "training table no/such/table.csv does not exist"),
    (["kpi", "show"], 3, "Redis at redis://127.0.0.1:"),  # Redis down (PAYLAKE_REDIS_URL below)
])
def test_every_expected_failure_is_one_line_with_its_exit_code(
    argv: list[str], code: int, says: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from paylake.stack.process import free_port

    monkeypatch.setenv("PAYLAKE_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith(f"paylake: error: {says}") and "Traceback" not in err
