"""The command language reads and writes lines as loratop's Command.parse / Command.line do."""

import pytest

from loratop_hf.commands import CommandError, float32_text, format_number, parse


@pytest.mark.parametrize("line,written", [
    ("lr 1e-4", "lr 0.0001"), ("LR 2e-4", "lr 0.0002"), ("learning_rate 1e-5", "lr 1e-05"),
    ("alpha 32", "alpha 32.0"), ("dropout\t0.05", "dropout 0.05"), ("rank 16", "rank 16"), ("r 4", "rank 4"),
    ("quant NF4", "quant nf4"), ("pause", "pause"), ("continue", "resume"), ("save", "save"),
    ("evaluate", "eval"), ("sample", "sample"), ("restart", "restart"), ("stop", "stop"), ("quit", "stop"),
    ("stop nosave", "stop nosave"), ("stop --no-save", "stop nosave"),
])
def test_lines_read_and_write_back(line, written):
    c = parse(line)
    assert c.line == written
    assert parse(c.line) == c


@pytest.mark.parametrize("line,message", [
    ("", "command ``: empty command"),
    ("rank x", "command `rank x`: expected a number after `rank`, found `x`"),
    ("rank 0", "command `rank 0`: rank must be a whole number from 1 to 4096, found 0"),
    ("rank 4097", "command `rank 4097`: rank must be a whole number from 1 to 4096, found 4097"),
    ("rank 2.5", "command `rank 2.5`: rank must be a whole number from 1 to 4096, found 2.5"),
    ("alpha 0", "command `alpha 0`: alpha must be from 1e-03 to 4096, found 0"),
    ("alpha 1e30", "command `alpha 1e30`: alpha must be from 1e-03 to 4096, found 1e30"),
    ("lr 10", "command `lr 10`: lr must be from 1e-09 to 1, found 10"),
    ("lr nan", "command `lr nan`: expected a number after `lr`, found `nan`"),
    ("lr", "command `lr`: `lr` takes one number, e.g. `lr 1e-4`"),
    ("dropout 1", "command `dropout 1`: dropout must be in [0, 1), found 1"),
    ("quant q9", "command `quant q9`: unknown quantization `q9`; expected none, int8, fp4, nf4 or source"),
    ("pause now", "command `pause now`: `pause` takes no arguments"),
    ("fly", "command `fly`: unknown command `fly`; expected rank, alpha, lr, dropout, quant, pause, resume, save, "
            "eval, sample, inspect, restart or stop"),
])
def test_refusals_say_what_was_wrong(line, message):
    with pytest.raises(CommandError) as e:
        parse(line)
    assert str(e.value) == message


def test_numbers_print_as_swift_prints_floats():
    # Checked against Swift 6.3's Float.description and loratop's formatNumber.
    assert [float32_text(v) for v in (1e-4, 1e-5, 2e7, 16777216, 9.9e-5, 0.00012345678, 32, 1e16, 2e-4)] == \
        ["0.0001", "1e-05", "2e+07", "16777216.0", "9.9e-05", "0.00012345678", "32.0", "1e+16", "0.0002"]
    assert [format_number(v) for v in (2e-4, 16, 0.05, 1e-4, 12.5)] == ["2e-04", "16", "0.05", "1e-04", "12.5"]
