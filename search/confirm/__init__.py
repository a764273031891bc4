"""The confirmation stage: a study's front re-trained on the paper's protocol (N fresh seeds, medians).

A study evaluates each setting on few seeds, so its front partly ranks luck. ``snn-search confirm NAME``
re-trains the front and its ε-band on N fresh seeds (search.confirm.select, .plan, .runner), selects the
confirmed front on validation medians and reports test medians (search.confirm.record, .plot). Entry point:
:func:`confirm_study` (search.confirm.stage).
"""

from search.confirm.record import CONFIRMED_FILTER
from search.confirm.stage import ConfirmOptions, ConfirmResult, confirm_command, confirm_study

__all__ = ["ConfirmOptions", "ConfirmResult", "confirm_study", "confirm_command", "CONFIRMED_FILTER"]
