"""Ticket tags and attachments: type and size limits, files under the data dir, permission-checked
downloads, shown in the thread; a refused file writes nothing."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from valuecrm.common.errors import NotFound, ValidationFailed
from valuecrm.common.models import OutboxEvent
from valuecrm.service.models import TicketAttachment, TicketMessage
from valuecrm.service.services import attachment_add, ticket_create, ticket_reply, ticket_update

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
PDF = b"%PDF-1.4\n%%EOF\n"


@pytest.fixture
def files_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.VALUECRM_SERVICE_ATTACHMENT_MAX_BYTES = 1000
    return tmp_path / "service" / "attachments"


@pytest.fixture
def ticket(agent, customer, policies):
    return ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": "破损",
                                            "tags": ["Damage", "快递", "damage"]})


def test_tags_are_kept_lower_case_without_repeats_and_checked(agent, ticket):
    assert ticket.tags == ["damage", "快递"]
    ticket = ticket_update(actor=agent, ticket=ticket, data={"tags": ["退货"]})
    assert ticket.tags == ["退货"]
    assert [e.payload["changed_fields"] for e in OutboxEvent.objects.filter(name="ticket.updated")] == [["tags"]]
    with pytest.raises(ValidationFailed) as info:
        ticket_update(actor=agent, ticket=ticket, data={"tags": ["x" * 41, ""]})
    assert sorted(info.value.errors) == ["tags.0", "tags.1"]
    with pytest.raises(ValidationFailed) as info:
        ticket_update(actor=agent, ticket=ticket, data={"tags": "damage"})
    assert list(info.value.errors) == ["tags"]


def test_a_reply_with_files_stores_them_under_the_data_dir(agent, ticket, files_dir, mailoutbox,
                                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        msg = ticket_reply(actor=agent, ticket=ticket, body="请看附件", files=[
            ("照片.png", [PNG]), ("../../etc/报告.pdf", [PDF[:5], PDF[5:]])])
    rows = list(TicketAttachment.objects.filter(message=msg).values_list("name", "content_type", "size"))
    assert rows == [("照片.png", "image/png", len(PNG)), ("报告.pdf", "application/pdf", len(PDF))]
    stored = sorted(p.relative_to(files_dir).parts[0] for p in files_dir.rglob("*") if p.is_file())
    assert stored == [str(ticket.pk), str(ticket.pk)]
    assert (files_dir / TicketAttachment.objects.get(name="报告.pdf").path).read_bytes() == PDF
    assert [a[0] for a in mailoutbox[0].attachments] == ["照片.png", "报告.pdf"]
    assert OutboxEvent.objects.filter(name="ticket.attachment_added").count() == 2


@pytest.mark.parametrize(("name", "content", "why"), [
    ("virus.exe", b"MZ", "Files of this type cannot be attached"),
    ("fake.png", b"GIF89a....", "does not match its type"),
    ("big.pdf", b"%PDF-" + b"0" * 1000, "larger than"),
    ("empty.txt", b"", "The file is empty."),
    ("latin.txt", "café".encode("latin-1"), "does not match its type"),
])
def test_a_refused_file_names_the_field_and_writes_nothing(agent, ticket, files_dir, name, content, why):
    with pytest.raises(ValidationFailed) as info:
        ticket_reply(actor=agent, ticket=ticket, body="附件", files=[("ok.txt", [b"fine"]), (name, [content])])
    assert list(info.value.errors) == ["file"]
    assert why in " ".join(info.value.errors["file"])
    assert TicketMessage.objects.filter(ticket=ticket).count() == 0
    assert TicketAttachment.objects.count() == 0
    assert not files_dir.exists() or not any(p.is_file() for p in files_dir.rglob("*"))


def test_downloads_check_who_may_see_the_ticket(client, agent, rep_north, ticket, files_dir):
    row = attachment_add(actor=agent, ticket=ticket, name="单据.pdf", chunks=[PDF])
    client.force_login(agent)
    page = client.get(f"/service/tickets/{ticket.pk}/")
    assert f'href="/service/attachments/{row.pk}/"'.encode() in page.content
    got = client.get(f"/service/attachments/{row.pk}/")
    assert (got.status_code, got["Content-Type"], got["X-Content-Type-Options"], b"".join(got.streaming_content)) \
        == (200, "application/pdf", "nosniff", PDF)
    assert "attachment;" in got["Content-Disposition"]
    client.force_login(rep_north)  # a rep who cannot see this customer
    assert client.get(f"/service/attachments/{row.pk}/").status_code == 404
    with pytest.raises(NotFound):
        attachment_add(actor=agent, ticket=ticket.__class__(pk=987654), name="x.txt", chunks=[b"x"])


def test_the_api_uploads_lists_and_refuses_by_field(api_client_for, agent, ticket, files_dir):
    api = api_client_for(agent)
    ok = api.post(f"/api/v1/tickets/{ticket.pk}/attachments",
                  {"file": SimpleUploadedFile("清单.csv", "品名,数量\n茶叶,2\n".encode(), "text/csv")})
    assert (ok.status_code, ok.json()["name"], ok.json()["content_type"]) == (201, "清单.csv", "text/csv")
    bad = api.post(f"/api/v1/tickets/{ticket.pk}/attachments",
                   {"file": SimpleUploadedFile("run.sh", b"#!/bin/sh", "text/x-sh")})
    assert (bad.status_code, bad["Content-Type"], list(bad.json()["errors"])) == (
        422, "application/problem+json", ["file"])
    listed = api.get(f"/api/v1/tickets/{ticket.pk}/attachments").json()
    assert [a["name"] for a in listed] == ["清单.csv"]
    assert listed[0]["url"] == f"/service/attachments/{listed[0]['id']}/"
    assert api.get(f"/api/v1/tickets/{ticket.pk}").json()["tags"] == ["damage", "快递"]
