def test_reps_cannot_use_the_integration_pages(client, rep_north):
    client.force_login(rep_north)
    assert client.get("/integrations/").status_code == 403
    assert client.get("/integrations/deliveries/").status_code == 403


def test_integrations_page_manages_endpoints_and_sources(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/integrations/").status_code == 200
    client.post("/integrations/webhooks/", {"name": "ERP", "url": "https://erp.example.com/hook",
                                            "event_types": ["order.created", "customer.merged"]})
    client.post("/integrations/inbound/", {"key": "jd", "name": "JD shop", "run_as": admin_user.pk})
    html = client.get("/integrations/").content.decode()
    assert "https://erp.example.com/hook" in html and "/api/v1/inbound/orders/jd" in html
    bad = client.post("/integrations/webhooks/", {"name": "", "url": "nope"}, follow=True)
    assert "Enter a valid http(s) URL." in bad.content.decode()
    assert client.get("/integrations/deliveries/").status_code == 200
