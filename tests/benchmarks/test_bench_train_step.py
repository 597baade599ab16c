"""benchmarks/bench_train_step.py reports the model it measured, or fails."""

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "benchmarks", "bench_train_step.py")
TINY = ["--steps", "1", "--rounds", "1", "--batch-size", "1", "--threads", "1"]


def _run(code_or_args, *, code: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", code_or_args] if code else [sys.executable, BENCH, *code_or_args]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)


def test_pwcnet_benchmark_measures_pwcnet():
    proc = _run(["--model", "pwcnet", *TINY])
    assert proc.returncode == 0, proc.stderr
    assert "model=pwcnet batch=1 steps/round=1 rounds=1" in proc.stdout
    assert "ms/step" in proc.stdout and "conv net" not in proc.stdout


def test_unbuildable_model_fails_instead_of_measuring_another():
    code = textwrap.dedent(
        f"""
        import runpy
        bench = runpy.run_path({BENCH!r})

        def broken(batch_size):
            raise KeyError("PwcnetTask is not registered")

        bench["SETUPS"]["pwcnet"] = broken
        bench["main"]({["--model", "pwcnet", *TINY]!r})
        """
    )
    proc = _run(code, code=True)
    assert proc.returncode != 0
    assert "cannot build --model pwcnet (KeyError: 'PwcnetTask is not registered')" in proc.stderr
    assert "model=" not in proc.stdout and "ms/step" not in proc.stdout
