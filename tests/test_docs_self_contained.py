"""The project's Markdown docs stand on their own: no paths outside the repository."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# an absolute machine path, or a relative one climbing out to a sibling checkout
OUTSIDE = re.compile(r"(?<![\w.~-])/(?:work|home|tmp|root|opt|mnt|Users)/|\.\./shared\b")
LINK = re.compile(r"\]\(([^)\s]+)\)")


SKIP = {"build", "tmp_data", "tmp_models", "outputs"}  # generated, not the project's docs


def _docs() -> list[Path]:
    return sorted(
        p
        for p in ROOT.rglob("*.md")
        if not any(part.startswith(".") or part in SKIP or part.endswith(".egg-info")
                   for part in p.relative_to(ROOT).parts[:-1])
    )  # fmt: skip


def test_docs_name_no_path_outside_the_repository():
    docs = _docs()
    assert ROOT / "README.md" in docs and ROOT / "hat/quantization/README.md" in docs
    found = [
        f"{doc.relative_to(ROOT)}:{i}: {line.strip()}"
        for doc in docs
        for i, line in enumerate(doc.read_text().splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found, "\n".join(found)


def test_relative_links_resolve_inside_the_repository():
    bad = []
    for doc in _docs():
        for target in LINK.findall(doc.read_text()):
            if re.match(r"[a-z]+:|#", target):
                continue  # URL or in-page anchor
            path = (doc.parent / target.split("#")[0]).resolve()
            if not path.is_relative_to(ROOT) or not path.exists():
                bad.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not bad, bad


def test_the_pattern_catches_outside_paths():
    assert OUTSIDE.search("see `/work/shared/notes/quantization.md`")
    assert OUTSIDE.search("(../shared/notes/x.md)")
    assert not OUTSIDE.search("tools/datasets/sceneflow_packer.py writes tmp_data/x/train_lmdb")
    assert not OUTSIDE.search("python3 tools/train.py --config configs/a.py")
