"""Plain helpers shared by the customer page and selector tests."""

from django.test import Client

from valuecrm.customers.models import Customer


def client_for(user) -> Client:
    """A test client with `user` logged in."""
    client = Client()
    client.force_login(user)
    return client


def make(name, owner=None, **kw) -> Customer:
    """A customer row straight in the database, in the owner's team unless `team` is given."""
    team = kw.pop("team", owner.team if owner is not None else None)
    return Customer.objects.create(name=name, owner=owner, team=team, **kw)
