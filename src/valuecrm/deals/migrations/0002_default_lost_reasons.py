from django.db import migrations

REASONS = [("Price too high", "价格太高"), ("Chose a competitor", "选择了竞争对手"), ("No budget", "没有预算"),
           ("Bad timing", "时机不对"), ("No decision", "未做决定"), ("Product fit", "产品不匹配")]


def add(apps, schema_editor):
    LostReason = apps.get_model("deals", "LostReason")
    for name, zh in REASONS:
        LostReason.objects.get_or_create(name=name, defaults={"name_zh": zh})


class Migration(migrations.Migration):
    dependencies = [("deals", "0001_initial")]
    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
