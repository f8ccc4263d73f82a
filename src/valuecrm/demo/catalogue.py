"""The demo shop's catalogue: a tea-and-lifestyle retailer selling to consumers and offices.

Unit costs are set per product so gross margins spread from 20 % (electronics
accessories, resold brands) to 60 % (own-label tea and snacks) — margin-based
CLV then differs visibly between customers who buy different things.
"""

from dataclasses import dataclass
from decimal import Decimal

from valuecrm.common.money import quantize


@dataclass(frozen=True)
class CatalogueItem:
    sku: str
    name: str
    category: str
    price: Decimal
    unit_cost: Decimal

    @property
    def margin(self) -> Decimal:
        return (self.price - self.unit_cost) / self.price


# category → (SKU prefix, gross margin, [(name, price CNY), ...])
_CATEGORIES = {
    "茶叶/Tea": ("TEA", "0.58", [
        ("西湖龙井 明前 250g", 368), ("安溪铁观音 清香型 500g", 198), ("云南普洱熟茶饼 357g", 158),
        ("武夷山大红袍 礼盒", 428), ("福鼎白茶 寿眉 300g", 138), ("正山小种红茶 200g", 118),
        ("茉莉花茶 罐装 150g", 68), ("Jasmine Pearls 100g", 88), ("冷泡茶组合 20包", 49),
        ("碧螺春 250g", 258), ("菊花枸杞养生茶 30包", 59),
    ]),
    "咖啡/Coffee": ("COF", "0.45", [
        ("云南小粒咖啡豆 454g", 98), ("埃塞俄比亚 耶加雪菲 250g", 128), ("挂耳咖啡 30片", 79),
        ("冷萃咖啡液 12瓶", 109), ("意式拼配咖啡豆 1kg", 168), ("Decaf Colombia 250g", 96),
        ("手冲咖啡套装", 299), ("胶囊咖啡 50粒", 159),
    ]),
    "零食/Snacks": ("SNK", "0.52", [
        ("每日坚果 30袋", 129), ("芒果干 500g", 39), ("手工牛轧糖 礼盒", 88),
        ("麻辣牛肉干 200g", 45), ("海苔脆片 12包", 29), ("蛋黄酥 6枚", 36),
        ("黑巧克力 70% 100g", 25), ("Oat Cookies 400g", 42), ("中秋月饼礼盒", 198),
    ]),
    "家居/Home": ("HOM", "0.40", [
        ("景德镇 白瓷茶具套装", 468), ("玻璃公道杯", 59), ("竹制茶盘", 238),
        ("香薰蜡烛 三件套", 139), ("纯棉四件套 1.8m", 399), ("保温杯 500ml", 129),
        ("Linen Table Runner", 89), ("收纳盒 三件套", 69),
    ]),
    "美妆/Beauty": ("BEA", "0.55", [
        ("玻尿酸补水面膜 10片", 99), ("氨基酸洁面乳 120g", 79), ("防晒霜 SPF50 50ml", 139),
        ("护手霜礼盒", 69), ("精华液 30ml", 259), ("Lip Balm Set", 59),
        ("卸妆油 200ml", 119), ("身体乳 400ml", 89), ("香氛沐浴露 500ml", 79),
    ]),
    "数码配件/Electronics accessories": ("ELE", "0.22", [
        ("快充充电器 65W", 149), ("Type-C 数据线 2条装", 39), ("蓝牙耳机", 299),
        ("充电宝 20000mAh", 179), ("手机壳", 49), ("无线鼠标", 89),
        ("Laptop Sleeve 14\"", 119), ("智能手环", 249), ("桌面支架", 59),
    ]),
    "办公用品/Office": ("OFF", "0.30", [
        ("A4 复印纸 5包", 135), ("中性笔 24支", 36), ("会议茶歇套餐 (20人)", 680),
        ("办公室咖啡豆月度订购", 520), ("Desk Organiser", 79), ("企业定制茶礼 10份", 1880),
    ]),
}


def catalogue() -> list[CatalogueItem]:
    items = []
    for category, (prefix, margin, products) in _CATEGORIES.items():
        base_margin = Decimal(margin)
        for index, (name, price) in enumerate(products, start=1):
            # A small per-item wobble so margins within a category are not identical.
            wobble = Decimal((index * 37) % 11 - 5) / Decimal(100)
            item_margin = min(max(base_margin + wobble, Decimal("0.20")), Decimal("0.60"))
            price_d = Decimal(price)
            items.append(CatalogueItem(
                sku=f"{prefix}-{index:03d}", name=name, category=category, price=quantize(price_d),
                unit_cost=quantize(price_d * (1 - item_margin)),
            ))
    return items


CATEGORIES = list(_CATEGORIES)
