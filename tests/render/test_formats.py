"""Every command offers every format it advertises, through one mapping each (tested exhaustive)."""

from __future__ import annotations

import pytest

from groupcost.cli.common import CheckFormat, Format
from groupcost.render import catalog, compare, report, sweep, variants, verify
from groupcost.render.guard import CHECK_FORMATS, DIFF_FORMATS


@pytest.mark.parametrize("mapping", [report.FORMATS, variants.FORMATS, compare.FORMATS, sweep.FORMATS, verify.FORMATS, catalog.FORMATS, DIFF_FORMATS])
def test_format_mappings_cover_the_format_option(mapping):
    assert set(mapping) == {f.value for f in Format}


def test_check_formats():
    assert set(CHECK_FORMATS) == {f.value for f in CheckFormat}


@pytest.mark.parametrize("fmt", [f.value for f in Format])
@pytest.mark.parametrize("command", [["analyze", "mobilefacenet"], ["layer", "8,8,8", "--out", "8"], ["compare", "resnet18", "--layers", "layer1.0.*"],
                                     ["whatif", "alexnet_2gpu", "--vary", "G=1,3"], ["diff", "resnet18", "resnet50"], ["zoo"], ["verify", "shufflenet_v2_table2"]])
def test_every_command_renders_every_format(cli, command, fmt):
    result = cli(*command, "--format", fmt)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip()
