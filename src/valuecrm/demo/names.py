"""Believable names for demo data: people, companies, places, jobs.

Chinese names carry their pinyin so e-mail addresses look like the ones real
customers type (wangwei83@…). Surname weights follow their rough frequency in
China, so 王/李/张/刘/陈 dominate as they do in a real customer base.
"""

import random
from dataclasses import dataclass

# (surname, pinyin, relative weight)
CN_SURNAMES = [
    ("王", "wang", 72), ("李", "li", 70), ("张", "zhang", 67), ("刘", "liu", 55),
    ("陈", "chen", 45), ("杨", "yang", 32), ("黄", "huang", 25), ("赵", "zhao", 22),
    ("吴", "wu", 21), ("周", "zhou", 21), ("徐", "xu", 16), ("孙", "sun", 15),
    ("马", "ma", 14), ("朱", "zhu", 13), ("胡", "hu", 12), ("郭", "guo", 12),
    ("何", "he", 11), ("林", "lin", 10), ("高", "gao", 10), ("罗", "luo", 10),
    ("郑", "zheng", 9), ("梁", "liang", 9), ("谢", "xie", 7), ("宋", "song", 7),
    ("唐", "tang", 6), ("许", "xu", 6), ("韩", "han", 6), ("冯", "feng", 6),
    ("邓", "deng", 6), ("曹", "cao", 6), ("彭", "peng", 5), ("曾", "zeng", 5),
    ("肖", "xiao", 5), ("田", "tian", 5), ("董", "dong", 5), ("潘", "pan", 4),
    ("袁", "yuan", 4), ("蔡", "cai", 4), ("蒋", "jiang", 4), ("余", "yu", 4),
    ("杜", "du", 3), ("叶", "ye", 3), ("程", "cheng", 3), ("魏", "wei", 3),
    ("苏", "su", 3), ("吕", "lv", 3), ("丁", "ding", 3), ("沈", "shen", 3),
    ("欧阳", "ouyang", 1), ("司马", "sima", 1),
]

CN_GIVEN_MALE = [
    ("伟", "wei"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"),
    ("勇", "yong"), ("杰", "jie"), ("涛", "tao"), ("明", "ming"), ("超", "chao"),
    ("刚", "gang"), ("平", "ping"), ("辉", "hui"), ("鹏", "peng"), ("华", "hua"),
    ("飞", "fei"), ("浩", "hao"), ("宇", "yu"), ("博", "bo"), ("文", "wen"),
    ("建国", "jianguo"), ("志强", "zhiqiang"), ("俊杰", "junjie"), ("子轩", "zixuan"),
    ("浩然", "haoran"), ("宇航", "yuhang"), ("晓东", "xiaodong"), ("海涛", "haitao"),
    ("永刚", "yonggang"), ("天宇", "tianyu"), ("嘉豪", "jiahao"), ("思远", "siyuan"),
]

CN_GIVEN_FEMALE = [
    ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"),
    ("艳", "yan"), ("娟", "juan"), ("霞", "xia"), ("婷", "ting"), ("雪", "xue"),
    ("琳", "lin"), ("颖", "ying"), ("倩", "qian"), ("慧", "hui"), ("洁", "jie"),
    ("秀英", "xiuying"), ("桂英", "guiying"), ("玉兰", "yulan"), ("晓燕", "xiaoyan"),
    ("雨桐", "yutong"), ("欣怡", "xinyi"), ("梓涵", "zihan"), ("诗涵", "shihan"),
    ("婉清", "wanqing"), ("佳琪", "jiaqi"), ("思琪", "siqi"), ("美玲", "meiling"),
    ("海燕", "haiyan"), ("丹丹", "dandan"), ("一诺", "yinuo"),
]

EN_FIRST_MALE = [
    "James", "John", "Michael", "David", "Daniel", "Thomas", "Oliver", "Henry",
    "Lucas", "Ethan", "Ryan", "Kevin", "Jason", "Eric", "Peter", "Mark",
]
EN_FIRST_FEMALE = [
    "Emma", "Olivia", "Sophia", "Emily", "Grace", "Chloe", "Lucy", "Anna",
    "Sarah", "Jessica", "Hannah", "Amy", "Laura", "Rachel", "Julia", "Kate",
]
EN_LAST = [
    "Smith", "Johnson", "Brown", "Taylor", "Miller", "Wilson", "Moore", "Clark",
    "Walker", "Wright", "Hall", "Young", "King", "Green", "Baker", "Adams",
    "Nelson", "Carter", "Mitchell", "Turner", "Parker", "Evans", "Collins", "Morgan",
]

# Company names are built the way Chinese firms are registered:
# city + trade name + industry + legal form.
CN_COMPANY_TRADE = [
    ("星辰", "xingchen"), ("华信", "huaxin"), ("鼎盛", "dingsheng"), ("恒通", "hengtong"),
    ("嘉禾", "jiahe"), ("金桥", "jinqiao"), ("远航", "yuanhang"), ("博雅", "boya"),
    ("瑞丰", "ruifeng"), ("中和", "zhonghe"), ("云帆", "yunfan"), ("青禾", "qinghe"),
    ("泰和", "taihe"), ("永信", "yongxin"), ("天行", "tianxing"), ("汇通", "huitong"),
    ("锦程", "jincheng"), ("优品", "youpin"), ("新元", "xinyuan"), ("佳和", "jiahe"),
]
CN_COMPANY_INDUSTRY = [
    ("贸易", "trading"), ("商贸", "commerce"), ("科技", "tech"), ("餐饮管理", "catering"),
    ("酒店管理", "hotels"), ("文化传媒", "media"), ("电子商务", "ecommerce"),
    ("供应链管理", "supply"), ("咨询", "consulting"), ("食品", "foods"),
]
CN_COMPANY_FORM = ["有限公司", "有限公司", "股份有限公司", "有限责任公司"]

EN_COMPANIES = [
    "Northwind Traders", "Contoso Ltd", "Fabrikam Inc", "Blue Harbor Foods",
    "Summit Hospitality", "Greenleaf Cafés", "Orchid Hotels Asia", "Pacific Rim Imports",
    "Silverline Retail", "Lotus Office Services", "Jade Dragon Catering", "Redwood Partners",
    "Harbour Lights Events", "Evergreen Wellness", "Bright Path Education", "Cedar & Co",
]

# (region, city, city pinyin, weight): weights roughly track where online retail
# customers in China live; a few abroad for the English-speaking minority.
CITIES = [
    ("上海", "上海", "shanghai", 14), ("北京", "北京", "beijing", 12),
    ("广东", "广州", "guangzhou", 9), ("广东", "深圳", "shenzhen", 9),
    ("浙江", "杭州", "hangzhou", 7), ("江苏", "南京", "nanjing", 5),
    ("江苏", "苏州", "suzhou", 5), ("四川", "成都", "chengdu", 6),
    ("湖北", "武汉", "wuhan", 5), ("重庆", "重庆", "chongqing", 4),
    ("陕西", "西安", "xian", 4), ("天津", "天津", "tianjin", 3),
    ("山东", "青岛", "qingdao", 3), ("福建", "厦门", "xiamen", 3),
    ("湖南", "长沙", "changsha", 3), ("浙江", "宁波", "ningbo", 2),
    ("辽宁", "大连", "dalian", 2), ("云南", "昆明", "kunming", 2),
]
CITIES_ABROAD = [
    ("Hong Kong SAR", "Hong Kong", "hongkong", 3), ("Singapore", "Singapore", "singapore", 2),
    ("England", "London", "london", 1), ("California", "San Francisco", "sanfrancisco", 1),
]

STREETS = ["人民路", "中山路", "解放路", "建设路", "南京路", "长江路", "和平路", "淮海路",
           "科技园路", "世纪大道", "滨江大道", "文化路"]

OCCUPATIONS_CN = [
    "工程师", "教师", "医生", "护士", "会计", "销售", "设计师", "程序员", "公务员",
    "律师", "自由职业", "学生", "企业主", "行政", "市场专员", "退休",
]
OCCUPATIONS_EN = [
    "Engineer", "Teacher", "Doctor", "Accountant", "Designer", "Software developer",
    "Consultant", "Lawyer", "Student", "Business owner", "Marketing manager", "Retired",
]
JOB_TITLES_CN = ["采购经理", "总经理", "行政主管", "财务经理", "店长", "运营总监", "采购专员"]
JOB_TITLES_EN = ["Purchasing Manager", "General Manager", "Office Manager", "Head of Operations",
                 "Procurement Lead", "Finance Director"]

EMAIL_DOMAINS_CN = ["example.cn", "example.com.cn", "mail.example.cn"]
EMAIL_DOMAINS_EN = ["example.com", "example.org", "example.net"]


@dataclass(frozen=True)
class PersonName:
    name: str
    email_local: str  # ascii, without digits
    gender: str  # "male" / "female"
    chinese: bool


def _weighted(rng: random.Random, items, weight_index: int):
    return rng.choices(items, weights=[item[weight_index] for item in items], k=1)[0]


def person_name(rng: random.Random, *, english_share: float = 0.12) -> PersonName:
    gender = "female" if rng.random() < 0.52 else "male"
    if rng.random() < english_share:
        first = rng.choice(EN_FIRST_FEMALE if gender == "female" else EN_FIRST_MALE)
        last = rng.choice(EN_LAST)
        return PersonName(f"{first} {last}", f"{first}.{last}".lower(), gender, False)
    surname, surname_py, _ = _weighted(rng, CN_SURNAMES, 2)
    given, given_py = rng.choice(CN_GIVEN_FEMALE if gender == "female" else CN_GIVEN_MALE)
    return PersonName(surname + given, surname_py + given_py, gender, True)


def company_name(rng: random.Random, city: str, *, english_share: float = 0.25) -> tuple[str, str]:
    """(name, ascii slug for the e-mail domain)."""
    if rng.random() < english_share:
        name = rng.choice(EN_COMPANIES)
        return name, "".join(ch for ch in name.lower() if ch.isalnum())
    trade, trade_py = rng.choice(CN_COMPANY_TRADE)
    industry, industry_py = rng.choice(CN_COMPANY_INDUSTRY)
    city_prefix = city if rng.random() < 0.7 else ""
    return f"{city_prefix}{trade}{industry}{rng.choice(CN_COMPANY_FORM)}", f"{trade_py}{industry_py}"


def city(rng: random.Random, *, abroad: bool = False) -> tuple[str, str, str]:
    region, name, pinyin, _ = _weighted(rng, CITIES_ABROAD if abroad else CITIES, 3)
    return region, name, pinyin


def mobile_cn(rng: random.Random) -> str:
    """A mobile number valid under CN numbering rules, already E.164."""
    prefix = rng.choice(
        ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
         "152", "153", "155", "156", "157", "158", "159", "180", "181", "182", "183",
         "185", "186", "187", "188", "189", "177", "176", "199"]
    )
    return f"+86{prefix}{rng.randrange(10**8):08d}"


AREA_CODES = {
    "beijing": "10", "shanghai": "21", "guangzhou": "20", "shenzhen": "755", "hangzhou": "571",
    "nanjing": "25", "suzhou": "512", "chengdu": "28", "wuhan": "27", "chongqing": "23",
    "xian": "29", "tianjin": "22", "qingdao": "532", "xiamen": "592", "changsha": "731",
    "ningbo": "574", "dalian": "411", "kunming": "871",
}
# city → (country calling code, mobile prefix, digits after the prefix, ISO country)
ABROAD_MOBILES = {
    "hongkong": ("852", "9", 7, "HK"), "singapore": ("65", "9", 7, "SG"),
    "london": ("44", "79", 8, "GB"), "sanfrancisco": ("1", "415", 7, "US"),
}


def _valid(number: str) -> bool:
    import phonenumbers

    return phonenumbers.is_valid_number(phonenumbers.parse(number))


def phone_for(rng: random.Random, city_pinyin: str, *, landline: bool = False) -> str:
    """An E.164 number that passes phonenumbers' validation for the customer's city.

    Drawing until valid keeps the output a pure function of the random stream,
    so the same seed still gives the same numbers.
    """
    if city_pinyin in ABROAD_MOBILES:
        country, prefix, digits, _ = ABROAD_MOBILES[city_pinyin]
        while True:
            number = f"+{country}{prefix}{rng.randrange(2 * 10 ** (digits - 1), 10**digits)}"
            if _valid(number):
                return number
    if not landline or city_pinyin not in AREA_CODES:
        return mobile_cn(rng)
    area = AREA_CODES[city_pinyin]
    for _ in range(20):
        number = f"+86{area}{rng.randrange(2, 9)}{rng.randrange(10**7):07d}"
        if _valid(number):
            return number
    return mobile_cn(rng)


def country_of(city_pinyin: str) -> str:
    return ABROAD_MOBILES[city_pinyin][3] if city_pinyin in ABROAD_MOBILES else "CN"
