"""Interaction, task and note texts for the demo timeline, in Chinese and English.

A customer with a Chinese name gets Chinese texts, others English — as a bilingual
team would write them.
"""

# kind → direction → [(subject, body)]; {product} is filled from the catalogue.
INTERACTIONS_ZH = {
    "call": {
        "outbound": [
            ("回访电话", "电话回访，客户对上次购买的{product}很满意，表示下月会再订。"),
            ("新品推荐", "致电介绍新品{product}，客户有兴趣，已发送产品资料。"),
            ("催付提醒", "订单未付款，电话提醒客户，客户说今天内完成支付。"),
        ],
        "inbound": [
            ("咨询发货时间", "客户来电询问订单发货时间，已告知预计两天内发出。"),
            ("售后咨询", "客户反映{product}包装有破损，已登记并安排补发。"),
        ],
    },
    "email": {
        "outbound": [
            ("您的专属优惠", "您好，感谢您一直以来的支持！本月为您准备了{product}的会员专享价。"),
            ("订单确认", "您的订单已确认，我们会尽快安排发货。"),
        ],
        "inbound": [
            ("发票申请", "客户来信申请开具增值税普通发票，抬头信息已附上。"),
            ("合作意向", "客户来信希望了解企业团购价格和起订量。"),
        ],
    },
    "meeting": {
        "outbound": [
            ("季度拜访", "上门拜访，了解客户下季度采购计划，重点推荐{product}。"),
            ("年度合同沟通", "与采购负责人沟通年度框架合同，价格待内部审批。"),
        ],
    },
    "chat": {
        "inbound": [
            ("微信咨询", "客户在微信上咨询{product}的库存和口味。"),
            ("退换货咨询", "客户在线咨询七天无理由退货流程，已发送说明。"),
        ],
        "outbound": [
            ("微信跟进", "微信发送{product}的使用建议，客户回复感谢。"),
        ],
    },
    "social": {
        "inbound": [
            ("小红书评论", "客户在小红书分享了{product}的使用体验，好评。"),
            ("抖音私信", "客户通过抖音私信询问直播间优惠是否还有效。"),
        ],
    },
    "web_visit": {
        "inbound": [
            ("浏览商品页", "访问了{product}商品详情页，停留约3分钟。"),
            ("加入购物车", "将{product}加入购物车但未下单。"),
        ],
    },
    "store_visit": {
        "inbound": [
            ("门店到访", "客户到店试饮，购买前详细了解了{product}。"),
            ("会员活动", "参加门店会员品鉴会。"),
        ],
    },
}

INTERACTIONS_EN = {
    "call": {
        "outbound": [
            ("Follow-up call", "Called to follow up on the last order; happy with the {product}, will reorder next month."),
            ("New product intro", "Introduced {product}; interested, sent the product sheet."),
        ],
        "inbound": [
            ("Delivery question", "Asked when the order ships; told them within two days."),
            ("After-sales", "Reported a damaged {product} box; replacement arranged."),
        ],
    },
    "email": {
        "outbound": [
            ("A member offer for you", "Thanks for being with us! This month there is a member price on {product}."),
            ("Order confirmation", "Your order is confirmed and will ship shortly."),
        ],
        "inbound": [
            ("Invoice request", "Asked for a VAT invoice; company details attached."),
            ("Bulk pricing", "Asked about corporate pricing and minimum order quantities."),
        ],
    },
    "meeting": {
        "outbound": [
            ("Quarterly visit", "Visited the office to discuss next quarter's purchasing; recommended {product}."),
            ("Annual agreement", "Discussed the annual supply agreement; pricing pending approval."),
        ],
    },
    "chat": {
        "inbound": [
            ("Website chat", "Asked in chat whether {product} is in stock."),
            ("Returns question", "Asked how the 7-day return works; sent the policy."),
        ],
        "outbound": [("Chat follow-up", "Sent brewing tips for {product}; customer said thanks.")],
    },
    "social": {
        "inbound": [("Instagram mention", "Posted a photo of the {product}; positive.")],
    },
    "web_visit": {
        "inbound": [
            ("Viewed product page", "Viewed the {product} page for about 3 minutes."),
            ("Abandoned cart", "Added {product} to the cart without ordering."),
        ],
    },
    "store_visit": {
        "inbound": [("Store visit", "Came to the store for a tasting before buying {product}.")],
    },
}

TASKS_ZH = [
    "回访{name}，确认对上次订单的满意度", "给{name}发送新品目录", "跟进{name}的企业团购报价",
    "{name}生日祝福", "与{name}确认发票信息", "邀请{name}参加会员品鉴会", "{name}流失预警：电话挽留",
]
TASKS_EN = [
    "Follow up with {name} on their last order", "Send the new catalogue to {name}",
    "Chase {name} on the corporate quote", "Birthday greeting for {name}",
    "Confirm invoice details with {name}", "Invite {name} to the members' tasting",
]

NOTES_ZH = [
    "偏好绿茶，对价格不太敏感。", "只在节假日大量采购，平时很少下单。", "希望发票随货寄出。",
    "决策人是财务总监，采购经理负责执行。", "对包装要求高，送礼为主。", "曾投诉过一次物流延误，已妥善处理。",
]
NOTES_EN = [
    "Prefers green tea; not price sensitive.", "Buys in bulk before holidays only.",
    "Wants the invoice shipped with the goods.", "The finance director decides; purchasing executes.",
    "Buys mostly as gifts; cares about packaging.",
]

SOURCES_BY_CHANNEL = {
    "organic": ["百度", "Bing", "Google"],
    "paid_search": ["百度推广", "Google Ads"],
    "social": ["小红书", "抖音", "微博", "Instagram"],
    "wechat": ["微信公众号", "微信小程序", "朋友圈广告"],
    "referral": ["朋友推荐", "会员推荐计划"],
    "store": ["南京西路门店", "三里屯门店", "天河门店"],
    "event": ["上海国际茶博会", "广交会", "Food & Hotel China"],
    "direct": ["销售拓展", "电话开发"],
    "marketplace": ["天猫", "京东", "拼多多"],
}
