"""Domain events, sent after commit by the services that change the data.

Receivers (webhooks, automation rules) must not write to the sender's tables in
the same transaction: by the time a signal is sent the change is committed, so a
failing receiver can never undo it.

customer_created  kwargs: customer_id, actor_id
customer_updated  kwargs: customer_id, actor_id
customer_merged   kwargs: merge_id, survivor_id, merged_id, actor_id
order_created     kwargs: order_id, actor_id
"""

from django.dispatch import Signal

customer_created = Signal()
customer_updated = Signal()
customer_merged = Signal()
order_created = Signal()
