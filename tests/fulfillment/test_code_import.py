import hashlib
import io
import tracemalloc
from functools import partial

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from fulfillment import vault
from fulfillment.code_import import (
    Accepted,
    CodeFormat,
    ImportRefused,
    batched,
    code_file_parse,
    normalise_code,
)

# Codes like "ABCD-EFGH-JKLM": three groups of four, hyphenated.
KEY_FORMAT = CodeFormat(pattern=r"[A-Z0-9]{4}(-[A-Z0-9]{4}){2}", min_length=14, max_length=14)
PRODUCT_ID = 7
fingerprint = partial(vault.blind_index, product_id=PRODUCT_ID)


def parse(data: bytes, *, file_format: str = "txt", max_bytes: int = 10_000):
    return code_file_parse(
        io.BytesIO(data),
        file_format=file_format,
        code_format=KEY_FORMAT,
        max_bytes=max_bytes,
        fingerprint=fingerprint,
    )


def summary(outcomes) -> list[tuple[int, str]]:
    """(line number, accepted code or rejection reason) per outcome."""
    return [
        (o.line_no, o.code) if isinstance(o, Accepted) else (o.line_no, o.reason.value)
        for o in outcomes
    ]


def test_normalise_code_strips_spaces_and_upper_cases_but_keeps_hyphens():
    assert normalise_code("  abcd-efgh -ijkl\t\r\n") == "ABCD-EFGH-IJKL"
    assert normalise_code("ab cd\u00a0ef") == "ABCDEF"
    assert normalise_code("--a--") == "--A--"


def test_a_txt_file_gives_one_outcome_per_line_with_reasons():
    data = (
        b"abcd-efgh-ijkl\n"  # 1: accepted, normalised
        b"  MNOP-QRST-UVWX  \r\n"  # 2: accepted, surrounding spaces and CRLF
        b"\n"  # 3: blank
        b"   \t \n"  # 4: blank
        b"ABCD-EFGH\n"  # 5: too short
        b"ABCD-EFGH-IJKL-MNOP\n"  # 6: too long
        b"ABCD_EFGH_IJKL\n"  # 7: right length, wrong format
        b"Abcd-Efgh-Ijkl\n"  # 8: same as line 1 once normalised
        b"2345 - 6789 - ABCD"  # 9: accepted, internal spaces, no final newline
    )

    code_file = parse(data)

    assert summary(code_file.outcomes) == [
        (1, "ABCD-EFGH-IJKL"),
        (2, "MNOP-QRST-UVWX"),
        (3, "blank"),
        (4, "blank"),
        (5, "too_short"),
        (6, "too_long"),
        (7, "pattern"),
        (8, "duplicate_in_file"),
        (9, "2345-6789-ABCD"),
    ]


def test_accepted_codes_carry_their_fingerprint():
    outcomes = list(parse(b"abcd-efgh-ijkl\n").outcomes)

    assert outcomes == [
        Accepted(1, "ABCD-EFGH-IJKL", vault.blind_index("ABCD-EFGH-IJKL", product_id=PRODUCT_ID))
    ]


def test_a_csv_file_reads_the_code_column_whatever_its_case():
    data = (
        b"Supplier ref, CODE ,note\r\n"
        b"r1,abcd-efgh-ijkl,first\r\n"
        b'r2,"MNOP-QRST-UVWX","quoted, with a comma"\r\n'
        b"r3\r\n"  # no code column on this row
        b"r4,,empty\r\n"
        b"r5,abcd-efgh-ijkl,again\r\n"
        b"r6,not-a-key,\r\n"
    )

    code_file = parse(data, file_format="csv")

    assert summary(code_file.outcomes) == [
        (2, "ABCD-EFGH-IJKL"),
        (3, "MNOP-QRST-UVWX"),
        (4, "blank"),
        (5, "blank"),
        (6, "duplicate_in_file"),
        (7, "too_short"),
    ]


def test_a_csv_file_without_a_code_column_is_refused_before_any_outcome():
    code_file = parse(b"serial,note\nABCD-EFGH-IJKL,x\n", file_format="csv")

    with pytest.raises(ImportRefused) as raised:
        next(code_file.outcomes)

    assert raised.value.message == "The first row of the CSV file must name a “code” column."
    assert raised.value.details == {"reason": "no_code_column"}


def test_an_empty_csv_file_is_refused():
    with pytest.raises(ImportRefused) as raised:
        list(parse(b"", file_format="csv").outcomes)

    assert raised.value.details == {"reason": "no_code_column"}


def test_a_csv_field_too_large_for_csv_is_refused_with_its_line():
    data = b"code\nABCD-EFGH-IJKL\n" + b"A" * 200_000 + b"\n"

    outcomes = parse(data, file_format="csv", max_bytes=1_000_000).outcomes

    assert summary([next(outcomes)]) == [(2, "ABCD-EFGH-IJKL")]
    with pytest.raises(ImportRefused) as raised:
        next(outcomes)
    assert raised.value.message == "The CSV file is malformed at line 3."
    assert raised.value.details == {"reason": "malformed_csv"}


def test_rejections_and_reprs_never_show_the_code():
    outcomes = list(parse(b"ABCD-EFGH-IJKL\nabcd-efgh-ijkl\nWXYZ_1234_5678\n").outcomes)

    assert [repr(outcome) for outcome in outcomes] == [
        "Accepted(line_no=1)",
        "Rejected(line_no=2, reason=RejectReason.DUPLICATE_IN_FILE)",
        "Rejected(line_no=3, reason=RejectReason.PATTERN)",
    ]
    assert [outcome.message for outcome in outcomes[1:]] == [
        "The code repeats an earlier line of this file.",
        "The code does not match this product's code format.",
    ]


def test_a_format_without_pattern_checks_lengths_only():
    code_file = code_file_parse(
        io.BytesIO(b"any_thing!\nab\n"),
        file_format="txt",
        code_format=CodeFormat(pattern=None, min_length=3, max_length=20),
        max_bytes=100,
        fingerprint=fingerprint,
    )

    assert summary(code_file.outcomes) == [(1, "ANY_THING!"), (2, "too_short")]


def test_a_byte_order_mark_is_accepted_and_dropped():
    data = b"\xef\xbb\xbfcode\nABCD-EFGH-IJKL\n"

    code_file = parse(data, file_format="csv")

    assert summary(code_file.outcomes) == [(2, "ABCD-EFGH-IJKL")]
    assert code_file.sha256 == hashlib.sha256(data).hexdigest()


def test_the_sha256_and_size_are_those_of_the_uploaded_bytes():
    data = "ABCD-EFGH-IJKL\r\nmnop-qrst-uvwx\n€\n".encode()

    code_file = parse(data)

    assert code_file.sha256 == hashlib.sha256(data).hexdigest()
    assert code_file.size == len(data)


def test_a_binary_file_is_refused():
    with pytest.raises(ImportRefused) as raised:
        parse(b"ABCD-EFGH-IJKL\n\x00\x01\x02PK\x03\x04")

    assert raised.value.message == (
        "The file is not a text file. Upload the codes as plain text or CSV."
    )
    assert raised.value.details == {"reason": "binary"}


def test_a_file_full_of_control_characters_is_refused_as_binary():
    # 10 control bytes in 100: no NUL, and valid UTF-8 (every byte is ASCII)
    data = (b"ABCD-EFGH-IJKL\x1b\x07" * 5 + b"X" * 20)[:100]
    assert len(data) == 100

    with pytest.raises(ImportRefused) as raised:
        parse(data)

    assert raised.value.details == {"reason": "binary"}


def test_a_stray_control_character_is_tolerated():
    code_file = parse(b"ABCD-EFGH-IJKL\nMNOP-QRST-UVWX\n\x1a")  # a DOS end-of-file mark

    assert summary(code_file.outcomes) == [
        (1, "ABCD-EFGH-IJKL"),
        (2, "MNOP-QRST-UVWX"),
        (3, "too_short"),
    ]


def test_a_latin1_file_is_refused_with_the_position_of_the_first_bad_byte():
    data = "ABCD-EFGH-IJKL\nCAFÉ-EFGH-IJKL\n".encode("latin-1")

    with pytest.raises(ImportRefused) as raised:
        parse(data)

    assert raised.value.message == (
        "The file is not UTF-8 text (the first bad byte is at position 18). "
        "Save it as UTF-8 and upload it again."
    )
    assert raised.value.details == {"reason": "not_utf8"}


def test_a_file_ending_in_half_a_character_is_refused_as_not_utf8():
    data = "ABCD-EFGH-IJKL\n€".encode()[:-1]

    with pytest.raises(ImportRefused) as raised:
        parse(data)

    assert raised.value.details == {"reason": "not_utf8"}
    assert "position 15" in raised.value.message


def test_a_file_over_the_size_limit_is_refused():
    data = b"ABCD-EFGH-IJKL\n" * 100  # 1500 bytes

    assert parse(data, max_bytes=1500).size == 1500
    with pytest.raises(ImportRefused) as raised:
        parse(data, max_bytes=1499)

    assert raised.value.message == "The file is larger than 1.5\xa0KB."
    assert raised.value.details == {"reason": "too_large"}


def test_an_uploaded_file_is_read_from_its_start_and_left_open():
    upload = SimpleUploadedFile("codes.txt", b"ABCD-EFGH-IJKL\n")
    upload.read()  # as a form's validation might

    code_file = code_file_parse(
        upload, file_format="txt", code_format=KEY_FORMAT, max_bytes=100, fingerprint=fingerprint
    )

    assert summary(code_file.outcomes) == [(1, "ABCD-EFGH-IJKL")]
    assert not upload.closed


def test_batched_splits_outcomes_into_lists_of_a_given_size():
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([], 3)) == []


def test_a_200000_line_file_parses_without_holding_the_file(tmp_path):
    # given a 200,000-line file of distinct 29-character codes (6 MB)
    lines = 200_000
    path = tmp_path / "codes.txt"
    with path.open("w") as file:
        for n in range(lines):
            file.write(f"{n:05X}-{n * 3 % lines:05X}-{n * 7 % lines:05X}-{n:05X}-{n:05X}\n")
    size = path.stat().st_size
    assert size == lines * 30

    def digest(code: str) -> bytes:
        # Stands in for the blind index: the same 32 bytes, in a third of the time
        # under tracemalloc.
        return hashlib.sha256(code.encode()).digest()

    # The set of fingerprints is the one thing that grows with the file, by design
    # (about 110 bytes per distinct code). Its peak is measured on its own first,
    # so the bound below is about the parser's own memory.
    tracemalloc.start()
    with path.open("rb") as file:
        expected = {digest(normalise_code(line.decode())) for line in file}
    _, fingerprints_peak = tracemalloc.get_traced_memory()
    del expected
    tracemalloc.reset_peak()

    # when it is parsed
    with path.open("rb") as file:
        code_file = code_file_parse(
            file,
            file_format="txt",
            code_format=CodeFormat(pattern=None, min_length=29, max_length=29),
            max_bytes=size,
            fingerprint=digest,
        )
        accepted = sum(isinstance(outcome, Accepted) for outcome in code_file.outcomes)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # then every line is accepted, and beyond the fingerprints the parser needed at
    # most what the whole-file check holds at once: a 1 MiB chunk and two transient
    # copies of it (decoded, and with control bytes removed). 3 MiB is half the
    # file, so the file was never held whole.
    assert accepted == lines
    assert peak - fingerprints_peak < 3 * 2**20
