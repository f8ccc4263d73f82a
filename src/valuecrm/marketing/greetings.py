"""Greeting message texts (birthday and festivals), en + 中文, plain and with a gift line.

Seeded as message templates by migration 0002; the automation rule templates look them
up by `template_name()`. Occasion keys match automation.festivals (a test pins that).
"""

from __future__ import annotations

NAME = '{{ customer.name|default:"朋友" }}'
NAME_EN = '{{ customer.name|default:"friend" }}'
FOOTER = "\n\n退订：{{ unsubscribe_url }}"
FOOTER_EN = "\n\nUnsubscribe: {{ unsubscribe_url }}"
GIFT = "\n我们为您准备了一份礼券，下次下单时自动抵扣。"
GIFT_EN = "\nWe have put a gift coupon on your account for your next order."

# occasion → (中文 name, 中文 wish, English name, English wish)
OCCASIONS: dict[str, tuple[str, str, str, str]] = {
    "birthday": ("生日", "祝您生日快乐，新的一岁万事顺意！", "Birthday", "Happy birthday, and all the best for the year ahead!"),
    "spring_festival": ("春节", "恭贺新春，祝您阖家幸福、万事如意！", "Spring Festival",
                        "Happy Chinese New Year! Wishing you and your family health and happiness."),
    "lantern": ("元宵节", "元宵佳节，祝您团团圆圆、甜甜蜜蜜！", "Lantern Festival",
                "Happy Lantern Festival! May your year be bright and sweet."),
    "dragon_boat": ("端午节", "端午安康，愿您平安喜乐！", "Dragon Boat Festival",
                    "Wishing you a healthy and peaceful Dragon Boat Festival."),
    "qixi": ("七夕", "七夕快乐，愿您与所爱之人长相守！", "Qixi Festival",
             "Happy Qixi! Wishing you love and togetherness."),
    "mid_autumn": ("中秋节", "月圆人团圆，祝您中秋快乐！", "Mid-Autumn Festival",
                   "Happy Mid-Autumn Festival! May you share the full moon with those you love."),
    "double_ninth": ("重阳节", "九九重阳，祝您和家人健康长寿！", "Double Ninth Festival",
                     "Wishing you and your elders good health this Double Ninth Festival."),
    "new_year": ("元旦", "新年快乐，祝您新的一年一切顺利！", "New Year's Day", "Happy New Year! All the best for the year."),
    "national_day": ("国庆节", "国庆快乐，祝您假期愉快！", "National Day", "Happy National Day, enjoy the holiday!"),
    "singles_day": ("双十一", "双十一到啦，感谢您一直以来的支持！", "Singles' Day",
                    "It's Double 11: thank you for shopping with us!"),
}
VARIANTS = ("plain", "gift")
LANGUAGES = ("zh-hans", "en")


def template_name(occasion: str, variant: str, language: str) -> str:
    zh, _wish, en, _wish_en = OCCASIONS[occasion]
    if language == "en":
        return f"Greeting: {en}" + (" (gift coupon)" if variant == "gift" else "") + " [en]"
    return f"祝福：{zh}" + ("（礼券）" if variant == "gift" else "") + " [中文]"


def template_rows() -> list[dict]:
    """Every greeting template: name, channel, language, subject, body_text."""
    rows = []
    for occasion, (zh, wish, en, wish_en) in OCCASIONS.items():
        for variant in VARIANTS:
            gift = variant == "gift"
            rows.append({"name": template_name(occasion, variant, "zh-hans"), "channel": "email",
                         "language": "zh-hans", "subject": f"{NAME}，{zh}快乐",
                         "body_text": f"{NAME}，您好！\n{wish}" + (GIFT if gift else "") + FOOTER})
            rows.append({"name": template_name(occasion, variant, "en"), "channel": "email", "language": "en",
                         "subject": f"{NAME_EN}, happy {en}" if occasion != "singles_day" else f"{NAME_EN}, happy Double 11",
                         "body_text": f"Dear {NAME_EN},\n{wish_en}" + (GIFT_EN if gift else "") + FOOTER_EN})
    return rows
