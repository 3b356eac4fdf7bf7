"""Every ```python block of the README runs as written."""
import re
import runpy
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README has a library example"
    monkeypatch.chdir(tmp_path)
    for i, code in enumerate(blocks):
        path = tmp_path / f"block_{i}.py"
        path.write_text(code)
        runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    rows = dict(re.findall(r"^(SGLD|MF-ARD|NNGP-KRR).*?error of the posterior mean ([0-9.]+)", out, re.M))
    assert set(rows) == {"SGLD", "MF-ARD", "NNGP-KRR"}, out
    # what the README says the block prints: the network and MF-ARD learn the parity, the kernel limit does not
    assert float(rows["SGLD"]) < 0.1 and float(rows["MF-ARD"]) < 0.2 and float(rows["NNGP-KRR"]) > 0.6, out
