"""Pages: the customer list as XLSX and the whole-account export (ZIP).
Thin: the files are written by exports.py."""

from __future__ import annotations

import os
import tempfile

from django.contrib.auth.decorators import login_required
from django.http import FileResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from valuecrm.common.errors import DomainError
from valuecrm.customers.views.listing import read_list_query, refuse_bad_export
from valuecrm.exports import exports

# ---------------------------------------------------------------- XLSX list export

@login_required
@require_GET
def customer_export_xlsx(request):
    query = read_list_query(request)
    if refused := refuse_bad_export(query):
        return refused
    handle = tempfile.TemporaryFile(suffix=".xlsx")
    exports.customer_xlsx(user=request.user, search=query.search, filters=query.filters,
                          sort=query.sort, target=handle)
    handle.seek(0)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = FileResponse(handle, as_attachment=True, filename=f"customers-{stamp}.xlsx",
                            content_type=exports.XLSX_CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def account_export_view(request):
    try:
        path = exports.account_export_zip(actor=request.user)
    except DomainError as exc:
        return render(request, "exports/forbidden.html", {"detail": exc.detail}, status=403)
    handle = open(path, "rb")  # noqa: SIM115 - FileResponse closes it
    os.unlink(path)  # the open handle keeps the data until the response is sent
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = FileResponse(handle, as_attachment=True, filename=f"valuecrm-account-{stamp}.zip",
                            content_type="application/zip")
    response["Cache-Control"] = "no-store"
    return response
