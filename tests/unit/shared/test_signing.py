import pytest

from shared.signing import SignatureCheck, SignatureError, canonical, request_target, sign

SECRET = "hotline-test-secret"
BODY = b'{"order_no":"GD2026112300001"}'
NOW = 1_795_420_000
PATH = "/v1/hotline/orders/GD2026112300001/events"


def test_a_fresh_correct_signature_passes():
    ts = str(NOW - 10)
    SignatureCheck(SECRET).verify("POST", PATH, ts, sign(SECRET, "POST", PATH, ts, BODY), BODY, NOW)


def test_the_canonical_string_is_method_target_timestamp_and_body_one_per_line():
    assert canonical("post", PATH, "1795420000", b"{}") == f"POST\n{PATH}\n1795420000\n{{}}".encode()


def test_signature_covers_method_path_timestamp_and_body():
    ts = str(NOW)
    good = sign(SECRET, "POST", PATH, ts, BODY)
    check = SignatureCheck(SECRET)
    check.verify("POST", PATH.encode(), ts, good.upper(), BODY, NOW)  # bytes as on the wire; hex in any case
    for method, path, stamp, body in (
            ("POST", PATH, ts, BODY + b" "),
            ("POST", PATH, str(NOW + 1), BODY),
            ("POST", PATH.replace("GD2026112300001", "GD2026112300002"), ts, BODY),  # another order's events
            ("PUT", PATH, ts, BODY),
            ("POST", PATH + "?x=1", ts, BODY)):
        with pytest.raises(SignatureError, match="does not match"):
            check.verify(method, path, stamp, good, body, NOW)
    with pytest.raises(SignatureError, match="does not match"):
        check.verify("POST", PATH, ts, sign("other", "POST", PATH, ts, BODY), BODY, NOW)


@pytest.mark.parametrize("offset", [301, -301, 10_000])
def test_timestamps_outside_the_window_are_refused(offset):
    ts = str(NOW - offset)
    with pytest.raises(SignatureError, match="window"):
        SignatureCheck(SECRET).verify("POST", PATH, ts, sign(SECRET, "POST", PATH, ts, BODY), BODY, NOW)


@pytest.mark.parametrize("ts, sig", [
    (None, "ab"), ("123", None), ("12.5", "ab"), ("-5", "ab"), ("١٧٩٥٤٢٠٠٠٠", "ab"), (str(NOW), "签名"),
    ("", "ab"), (" 1795420000", "ab"), ("1795420000 ", "ab"), ("0x6b03f4e0", "ab"), ("1_795_420_000", "ab"),
    ("9" * 13, "ab"), ("1" * 5000, "ab"), ("1" * 100_000, "ab"),   # int() of 4,301+ digits raises ValueError
    (str(NOW), "ab"), (str(NOW), "0" * 63), (str(NOW), "g" * 64), (str(NOW), "0" * 65)])
def test_missing_or_malformed_headers_are_refused_never_anything_else(ts, sig):
    with pytest.raises(SignatureError):
        SignatureCheck(SECRET).verify("POST", PATH, ts, sig, BODY, NOW)


def test_a_five_thousand_digit_timestamp_is_a_signature_error_with_a_valid_looking_signature():
    ts = "1" * 5000
    with pytest.raises(SignatureError, match="unix seconds"):
        SignatureCheck(SECRET).verify("POST", PATH, ts, sign(SECRET, "POST", PATH, ts, BODY), BODY, NOW)


def test_the_request_target_is_the_raw_path_with_its_query():
    assert request_target({"raw_path": b"/v1/hotline/orders/%E5%B7%A51/events", "query_string": b""}) == \
        b"/v1/hotline/orders/%E5%B7%A51/events"
    assert request_target({"raw_path": b"/hooks/a", "query_string": b"token=x"}) == b"/hooks/a?token=x"
    assert request_target({"raw_path": b"/hooks/a?token=x", "query_string": b"token=x"}) == b"/hooks/a?token=x"
    assert request_target({"path": "/v1/工单", "query_string": b""}) == b"/v1/%E5%B7%A5%E5%8D%95"


def test_known_vector_computed_with_openssl():
    # printf 'POST\n/v1/hotline/orders\n1795420000\n{}' | openssl dgst -sha256 -hmac hotline-dev-secret
    assert sign("hotline-dev-secret", "POST", "/v1/hotline/orders", "1795420000", b"{}") == \
        "a8c8641e2e72b56b45e6fe8e36f3bdd6214d29e4f320e60867244a7c0619e4be"


def test_during_a_rotation_the_previous_secret_is_accepted_too_and_nothing_else():
    ts = str(NOW - 10)
    rotating = SignatureCheck("the-new-secret", previous=SECRET)
    rotating.verify("POST", PATH, ts, sign(SECRET, "POST", PATH, ts, BODY), BODY, NOW)
    rotating.verify("POST", PATH, ts, sign("the-new-secret", "POST", PATH, ts, BODY), BODY, NOW)
    with pytest.raises(SignatureError):
        rotating.verify("POST", PATH, ts, sign("a-third-secret", "POST", PATH, ts, BODY), BODY, NOW)
    with pytest.raises(SignatureError):  # rotated: the old one is refused once it is cleared
        SignatureCheck("the-new-secret").verify("POST", PATH, ts, sign(SECRET, "POST", PATH, ts, BODY), BODY, NOW)
