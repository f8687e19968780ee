"""The Simplified Chinese and Persian catalogues: complete, compiled, and in use.

The .po files are read with a small parser (no polib or Babel needed) and the
committed .mo files with the standard library, so these tests need no gettext
tools: a fresh machine has the compiled catalogues in the repository.
"""

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from tests.shop.factories import CategoryFactory, ProductFactory, stock_product

LOCALE_DIR = Path(settings.BASE_DIR) / "locale"
LANGUAGES = {"zh_Hans": 1, "fa": 2}  # locale directory -> number of plural forms
PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*[sdif]|%%|<[^>]+>")


def read_po(path: Path) -> list[dict]:
    """Each entry as {"flags", "msgctxt", "msgid", "msgid_plural", "msgstr", "msgstr[N]"}."""
    entries: list[dict] = []
    entry: dict = {"flags": set()}
    key = None

    def close() -> None:
        nonlocal entry, key
        if "msgid" in entry:
            entries.append(entry)
        entry, key = {"flags": set()}, None

    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            close()
        elif line.startswith("#~"):
            continue  # an obsolete entry is not part of the catalogue
        elif line.startswith("#,"):
            entry["flags"].update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            entry[key] += ast.literal_eval(line)
        else:
            key, _, value = line.partition(" ")
            if key in entry or (key == "msgctxt" and "msgid" in entry):
                close()  # entries not separated by a blank line
            entry[key] = ast.literal_eval(value)
    close()
    return entries


def translations(entry: dict) -> list[str]:
    return [value for key, value in entry.items() if key.startswith("msgstr")]


def catalogue(lang: str) -> list[dict]:
    return read_po(LOCALE_DIR / lang / "LC_MESSAGES" / "django.po")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_entry_is_translated_and_none_is_fuzzy(lang):
    entries = catalogue(lang)
    header, messages = entries[0], entries[1:]
    assert header["msgid"] == ""
    assert len(messages) > 100  # the catalogue was generated, not left empty

    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    untranslated = [e["msgid"] for e in messages if not all(translations(e))]
    assert not fuzzy, f"{lang}: fuzzy entries: {fuzzy}"
    assert not untranslated, f"{lang}: untranslated entries: {untranslated}"
    for entry in messages:
        if "msgid_plural" in entry:
            forms = sorted(k for k in entry if k.startswith("msgstr["))
            assert len(forms) == LANGUAGES[lang], (lang, entry["msgid"], forms)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_header_names_language_plural_forms_and_utf8(lang):
    header = catalogue(lang)[0]["msgstr"]
    fields = dict(line.split(": ", 1) for line in header.splitlines() if line)
    assert fields["Language"] == lang
    assert fields["Content-Type"] == "text/plain; charset=UTF-8"
    expected = {"zh_Hans": "nplurals=1; plural=0;", "fa": "nplurals=2; plural=(n > 1);"}[lang]
    assert fields["Plural-Forms"] == expected


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_placeholders_and_markup(lang):
    for entry in catalogue(lang)[1:]:
        wanted = sorted(PLACEHOLDER.findall(entry["msgid"]))
        if "msgid_plural" in entry:
            plural = sorted(PLACEHOLDER.findall(entry["msgid_plural"]))
            for form in translations(entry):
                assert sorted(PLACEHOLDER.findall(form)) in (wanted, plural), (lang, entry["msgid"])
        else:
            got = sorted(PLACEHOLDER.findall(entry["msgstr"]))
            assert got == wanted, (lang, entry["msgid"], entry["msgstr"])


@pytest.mark.parametrize("lang", LANGUAGES)
def test_compiled_catalogue_matches_the_po_file(lang):
    """The committed .mo holds exactly the .po's translations: run compilemessages after editing."""
    mo = LOCALE_DIR / lang / "LC_MESSAGES" / "django.mo"
    assert mo.exists(), f"{mo} is missing: run manage.py compilemessages"
    with mo.open("rb") as fh:
        compiled = gettext.GNUTranslations(fh)._catalog  # the parsed table

    expected = {}
    for entry in catalogue(lang)[1:]:
        msgid = entry["msgid"]
        if "msgctxt" in entry:
            msgid = f"{entry['msgctxt']}\x04{msgid}"
        if "msgid_plural" in entry:
            for key, value in entry.items():
                if key.startswith("msgstr["):
                    expected[(msgid, int(key[7:-1]))] = value
        else:
            expected[msgid] = entry["msgstr"]
    compiled = {k: v for k, v in compiled.items() if k != ""}  # "" is the header
    missing = sorted(str(k) for k in expected.keys() - compiled.keys())
    stale = sorted(str(k) for k in compiled.keys() - expected.keys())
    changed = sorted(
        str(k) for k in expected.keys() & compiled.keys() if expected[k] != compiled[k]
    )
    assert not (missing or stale or changed), (
        f"{lang}: django.mo is out of date with django.po; run compilemessages "
        f"(missing {missing[:5]}, stale {stale[:5]}, changed {changed[:5]})"
    )


# Rendering: the pages a buyer sees, in each language.

PAGES = {
    "fa": {
        "dir": 'dir="rtl"',
        "lang": 'lang="fa"',
        "home": ["جستجو", "3 عدد موجود", "ناموجود", "دسته‌بندی‌ها", "شرایط فروش"],
        "product": ["جستجو", "3 عدد موجود", "خرید", "پیدا کردن سفارش من"],
    },
    "zh-hans": {
        "dir": 'dir="ltr"',
        "lang": 'lang="zh-hans"',
        "home": ["搜索", "库存 3 件", "已售罄", "分类", "销售条款"],
        "product": ["搜索", "库存 3 件", "立即购买", "查找我的订单"],
    },
}


@pytest.fixture
def catalogue_pages(db):
    category = CategoryFactory(slug="games")
    in_stock = stock_product(ProductFactory(category=category, is_featured=True), 3)
    sold_out = stock_product(ProductFactory(category=category, is_featured=True), 0)
    return in_stock, sold_out


@pytest.mark.parametrize("language", PAGES)
def test_pages_render_in_the_language_of_the_cookie(client, catalogue_pages, language):
    in_stock, _ = catalogue_pages
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    expected = PAGES[language]

    for page, url in [("home", reverse("shop:home")), ("product", in_stock.get_absolute_url())]:
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["Content-Language"] == language
        body = response.content.decode()
        assert expected["dir"] in body and expected["lang"] in body, page
        for text in expected[page]:
            assert text in body, f"{language} {page}: {text!r} not on the page"
        assert "Sold out" not in body and ">Search<" not in body, f"{language} {page} shows English"


def test_english_stays_the_default(client, catalogue_pages):
    body = client.get(reverse("shop:home")).content.decode()
    assert 'dir="ltr"' in body and "3 in stock" in body and "Sold out" in body
