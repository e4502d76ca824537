import time

import jwt
import pytest

from shared.auth import Principal, decode_token, issue_token
from shared.logging import mask_phone, mask_phones_processor
from shared.problems import Problem

SECRET = "unit-test-secret-that-is-32-bytes!!"


@pytest.mark.parametrize("raw, masked", [
    ("call 13812345678 now", "call 138****5678 now"),
    ("+8613812345678", "+86138****5678"),
    ("order 202611230001234", "order 202611230001234"),  # long digit runs are not phones
    ("电话0512-65231234", "电话0512-****1234"),  # landlines with their area code
    ("(010)12345678 或 051265231234", "010-****5678 或 0512-****1234"),
    ("身份证320508199001011234", "身份证320508********1234"),
    ("id 11010520001231002X.", "id 110105********002X."),
    ("grid 320508019044001 at 2026-12-05", "grid 320508019044001 at 2026-12-05"),  # codes and dates stay
    ("case 0f1e2d3c-0512-4a5b-8c9d-051265231234", "case 0f1e2d3c-0512-4a5b-8c9d-051265231234"),  # ids stay
])
def test_phone_numbers_are_masked(raw, masked):
    assert mask_phone(raw) == masked


def test_log_processor_masks_nested_values():
    out = mask_phones_processor(None, "info", {"reporter": {"phone": "13900001111"}, "list": ["13900001111"]})
    assert out == {"reporter": {"phone": "139****1111"}, "list": ["139****1111"]}


def test_the_standard_librarys_log_records_are_masked_too():
    """uvicorn's and asyncpg's lines, and tracebacks, go through the standard library's logging."""
    import io
    import logging

    from shared.logging import MaskingFilter

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(MaskingFilter())
    library = logging.getLogger("some.library")
    library.addHandler(handler)
    try:
        raise ValueError("reporter 13812345678, id 320508199001011234")
    except ValueError:
        library.exception("failed for %s", "0512-65231234")
    finally:
        library.removeHandler(handler)
    text = out.getvalue()
    assert "13812345678" not in text and "320508199001011234" not in text and "65231234" not in text
    assert "138****5678" in text and "0512-****1234" in text and "320508********1234" in text


def test_token_round_trip_and_area_prefixes():
    principal = decode_token(SECRET, issue_token(SECRET, "w1", "gridworker", ["320508019044"], unit="u1"))
    assert principal == Principal("w1", "gridworker", ("320508019044",), "u1")
    assert principal.sees("320508019044007") and not principal.sees("320508019045001")
    assert not principal.sees(None)
    assert Principal("c", "supervisor", ("",)).sees("999")


def test_token_without_exp_is_refused():
    token = jwt.encode({"sub": "x", "role": "admin", "area": [""]}, SECRET, algorithm="HS256")
    with pytest.raises(Problem) as exc:
        decode_token(SECRET, token)
    assert exc.value.status == 401


def test_expired_wrong_secret_and_other_algorithm_are_refused():
    expired = jwt.encode({"sub": "x", "role": "admin", "area": [""], "exp": int(time.time()) - 10}, SECRET,
                         algorithm="HS256")
    other_alg = jwt.encode({"sub": "x", "role": "admin", "area": [""], "exp": int(time.time()) + 60}, SECRET,
                           algorithm="HS512")
    for token in (expired, other_alg, issue_token("another-secret-that-is-32-bytes-long", "x", "admin", [""])):
        with pytest.raises(Problem) as exc:
            decode_token(SECRET, token)
        assert exc.value.status == 401


def test_a_token_verified_once_still_expires_on_time(monkeypatch):
    token = issue_token(SECRET, "w1", "gridworker", ["3205"], ttl_seconds=60)
    assert decode_token(SECRET, token).sub == "w1"
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 120)
    with pytest.raises(Problem) as exc:
        decode_token(SECRET, token)
    assert exc.value.status == 401
