"""My follow-ups: the signed-in user's open tasks, grouped by when they are due."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from valuecrm.customers.followups import UPCOMING_DAYS, user_follow_ups
from valuecrm.customers.services import task_assignments_seen


def _context(request) -> dict:
    return {"follow_ups": user_follow_ups(user=request.user), "upcoming_days": UPCOMING_DAYS}


def render_inbox_groups(request):
    """The grouped lists alone, for htmx after a task was marked done (counts refresh too)."""
    return render(request, "customers/inbox_groups.html", _context(request))


@login_required
@require_GET
def inbox(request):
    return render(request, "customers/inbox.html", _context(request))


@login_required
@require_POST
def inbox_assignments_seen(request):
    """"Got it" on the follow-ups others gave the user: one (task=<id>) or all."""
    task = request.POST.get("task", "")
    task_assignments_seen(actor=request.user, task_ids=[int(task)] if task.isdigit() else None)
    if request.htmx:
        return render_inbox_groups(request)
    return redirect("inbox")
