"""An Optuna storage that cannot be opened is a user error naming the URL and the fix, never a traceback
from SQLAlchemy; one that can be opened keeps a study."""

import optuna
import pytest

from search.storage import make_storage
from snn.errors import UserError
from tests.search.procs import free_port


@pytest.mark.parametrize("url, cause", [
    ("not a url", "Could not parse SQLAlchemy URL"),
    (f"postgresql://user@127.0.0.1:{free_port()}/db", "Connection refused"),  # nothing listens there
    ("journal:///no/such/folder/optuna.journal", "No such file or directory"),
    ("sqlite:////no/such/folder/optuna.db", "unable to open database file"),
])
def test_a_storage_that_cannot_be_opened_names_the_url_and_the_fix(url, cause):
    with pytest.raises(UserError) as error:
        make_storage(url)
    message = str(error.value)
    assert message.startswith(f"the Optuna storage {url!r} cannot be opened (") and cause in message
    assert message.endswith("; fix [search.storage] optuna: sqlite:///FILE, postgresql://USER@HOST:PORT/DB with its "
                            "server running, or journal:///FILE in an existing folder")


@pytest.mark.parametrize("scheme", ["sqlite:///", "journal:///"])
def test_a_storage_that_opens_keeps_the_study(tmp_path, scheme):
    url = f"{scheme}{tmp_path / 'optuna.db'}"
    optuna.create_study(study_name="s", storage=make_storage(url)).enqueue_trial({"x": 1.0})
    assert len(optuna.load_study(study_name="s", storage=make_storage(url)).trials) == 1
