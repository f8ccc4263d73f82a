"""Events the insights app emits (sent after commit; automation rules listen).

``customer_stage_changed`` — kwargs: customer_id, from_stage ('' when first
scored), to_stage, changed_on (date), run_id.
"""

from django.dispatch import Signal

customer_stage_changed = Signal()
# The same changes in one batch — kwargs: run_id, changed_on, changes (list of
# (customer_id, from_stage, to_stage)). A first run changes every customer's
# stage, so listeners doing per-change queries should prefer this one.
customer_stages_changed = Signal()
# kwargs: run_id, as_of, n_customers — sent once a scoring run has committed.
score_run_finished = Signal()
