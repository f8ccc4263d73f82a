from decimal import Decimal

from django.db import migrations

# The levels Chinese shoppers expect (会员等级); an administrator edits thresholds and benefits.
DEFAULT_TIERS = [
    ("standard", "Standard", "普通会员", 0, 0, Decimal("1.00"), False, False),
    ("silver", "Silver", "银卡会员", 1, 1000, Decimal("1.20"), False, False),
    ("gold", "Gold", "金卡会员", 2, 5000, Decimal("1.50"), True, False),
    ("black", "Black Gold", "黑金会员", 3, 20000, Decimal("2.00"), True, True),
]


def create(apps, schema_editor):
    Tier = apps.get_model("loyalty", "Tier")
    for code, name, name_zh, rank, threshold, multiplier, free_shipping, priority in DEFAULT_TIERS:
        Tier.objects.get_or_create(code=code, defaults={
            "name": name, "name_zh": name_zh, "rank": rank, "threshold": threshold, "multiplier": multiplier,
            "free_shipping": free_shipping, "priority_service": priority})


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
