"""`snn-search confirm` refuses bad options and unknown studies with one line naming the problem and the fix
(exit status 2), before it opens any store."""

import pytest

from search.cli import main


@pytest.mark.parametrize("args, message", [
    (["--seeds", "0"], "--seeds must be >= 1, got 0; the paper's protocol is 10"),
    (["--band", "1.5"], "--band must be <= 1, got 1.5; it is a fraction of validation accuracy, e.g. 0.02"),
    (["--band", "-0.1"], "--band must be >= 0, got -0.1"),
    ([], "no study 'tiny' under"),
])
def test_bad_options_and_unknown_studies_are_one_line_errors(tmp_path, capsys, args, message):
    assert main(["confirm", "tiny", "--root", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
