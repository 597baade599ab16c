"""SIGTERM handling at the edges: a signal that lands while the interpreter runs its exit hooks
(a launcher stopping a rank that is already finishing) ends the process without a traceback."""

import subprocess
import sys
import textwrap

_PROGRAM = textwrap.dedent(
    """
    import atexit, os, signal, weakref

    class Held:
        pass

    held = Held()
    # An exit hook registered before handle_sigterm (as torch's weakref finalizers are) runs
    # after the handler's own hook; the signal arrives from inside it.
    weakref.finalize(held, lambda: (os.kill(os.getpid(), signal.SIGTERM), print("hook done")))

    from hat.utils.termination import handle_sigterm

    handle_sigterm()
    print("work done", flush=True)
    """
)


def test_sigterm_during_exit_hooks_prints_no_traceback():
    proc = subprocess.run(
        [sys.executable, "-c", _PROGRAM], capture_output=True, text=True, timeout=60
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.split() == ["work", "done", "hook", "done"]
    assert proc.returncode == 0
