"""run_cli: how a tool ends on a user error, Ctrl-C and SIGTERM (one line, the exit code)."""

import pytest

from hat.errors import UserInputError
from hat.utils.cli import run_cli
from hat.utils.termination import Terminated


def _run(main, capsys):
    with pytest.raises(SystemExit) as exc:
        run_cli(main, "hat-tool")
    return exc.value.code, capsys.readouterr().err


def test_ctrl_c_says_interrupted_and_exits_130(capsys):
    def main():
        raise KeyboardInterrupt

    code, err = _run(main, capsys)
    assert (code, err) == (130, "hat-tool: interrupted\n")


def test_user_error_is_one_line_and_exits_1(capsys):
    def main():
        raise UserInputError("config x.py has no 'ckpt_dir'")

    code, err = _run(main, capsys)
    assert (code, err) == (1, "hat-tool: error: config x.py has no 'ckpt_dir'\n")


def test_sigterm_prints_its_message_and_exit_code(capsys):
    def main():
        raise Terminated()

    code, err = _run(main, capsys)
    assert code == 143
    assert err.startswith("hat-tool: ") and "SIGTERM" in err and err.count("\n") == 1
