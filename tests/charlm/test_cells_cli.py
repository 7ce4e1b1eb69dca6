"""`python -m charlm explain` and `python -m charlm cells` on the shipped checkpoints."""

import io
import re
from pathlib import Path

from PIL import Image

from charlm import cli
from charlm.explain.cells import FEATURES, NO_CELLS_NOTE
from tests.helpers import run_main

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"


def charlm_here(*args: str):
    return run_main(cli.main, args, "python -m charlm")


def png_size(path: Path) -> tuple[int, int]:
    with Image.open(io.BytesIO(path.read_bytes())) as image:
        return image.size


def test_cells_on_the_lstm_prints_a_correlation_per_property(tmp_path: Path) -> None:
    out = tmp_path / "cells.png"
    result = charlm_here("cells", "--checkpoint", str(CHECKPOINTS / "lstm.safetensors"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = re.findall(r"^\d\. (.+?)\s+layer (\d) cell (\d+)\s+r = ([+-]\d\.\d{3})$", result.stdout, re.M)
    assert [row[0] for row in rows] == list(FEATURES)
    correlations = {row[0]: float(row[3]) for row in rows}
    # the shipped LSTM has a cell that counts along the line (Karpathy's line-length cell)
    assert abs(correlations["position in the line"]) > 0.8
    assert "no memory cells" not in result.stdout
    assert png_size(out)[0] == 1000


def test_cells_on_the_gru_says_in_one_sentence_what_it_compares(tmp_path: Path) -> None:
    out = tmp_path / "cells.png"
    result = charlm_here("cells", "--checkpoint", str(CHECKPOINTS / "gru.safetensors"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == NO_CELLS_NOTE.format(kind="GRU")
    assert len(re.findall(r"r = [+-]\d\.\d{3}$", result.stdout, re.M)) == len(FEATURES)


def test_a_property_absent_from_the_text_is_said_to_be_absent(tmp_path: Path) -> None:
    text = tmp_path / "plain.txt"
    text.write_text("ROMEO:\nNo brackets here, none at all.\n\nJULIET:\nNor here.\n" * 4)
    result = charlm_here("cells", "--checkpoint", str(CHECKPOINTS / "lstm.safetensors"), "--text",
                         str(text), "--out", str(tmp_path / "c.png"))
    assert result.returncode == 0, result.stderr
    assert re.search(r"^-  inside brackets\s+does not vary in this text", result.stdout, re.M)
    assert len(re.findall(r"r = [+-]\d\.\d{3}$", result.stdout, re.M)) == len(FEATURES) - 1


def test_explain_writes_the_picture_and_names_the_surprises(tmp_path: Path) -> None:
    out = tmp_path / "why.png"
    result = charlm_here("explain", "--checkpoint", str(CHECKPOINTS / "lstm.safetensors"), "--seed",
                         "JULIET:\nO Romeo, Romeo!", "--temp", "0.8", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert png_size(out)[0] == 1000
    assert len(re.findall(r"^\d\. .+ expected '.+' \d+\.\d%, ", result.stdout, re.M)) == 3


def test_explain_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    checkpoint = str(CHECKPOINTS / "lstm.safetensors")
    for args, message in ((("--seed", "\U0001F600"), "no characters the model knows"),
                          (("--seed", "hi", "--temp", "0"), "Temperature must be")):
        result = charlm_here("explain", "--checkpoint", checkpoint, *args, "--out", str(tmp_path / "x.png"))
        assert result.returncode == 2 and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    missing = charlm_here("explain", "--checkpoint", checkpoint, "--seed", "hi", "--out",
                          str(tmp_path / "no" / "x.png"))
    assert missing.returncode == 2 and "Cannot write" in missing.stderr
