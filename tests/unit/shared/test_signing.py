import pytest

from shared.signing import SignatureCheck, SignatureError, sign

SECRET = "hotline-test-secret"
BODY = b'{"order_no":"GD2026112300001"}'
NOW = 1_795_420_000


def test_a_fresh_correct_signature_passes():
    ts = str(NOW - 10)
    SignatureCheck(SECRET).verify(ts, sign(SECRET, ts, BODY), BODY, NOW)


def test_signature_covers_timestamp_and_body():
    ts = str(NOW)
    good = sign(SECRET, ts, BODY)
    check = SignatureCheck(SECRET)
    with pytest.raises(SignatureError, match="does not match"):
        check.verify(ts, good, BODY + b" ", NOW)
    with pytest.raises(SignatureError, match="does not match"):
        check.verify(str(NOW + 1), good, BODY, NOW)
    with pytest.raises(SignatureError, match="does not match"):
        check.verify(ts, sign("other", ts, BODY), BODY, NOW)


@pytest.mark.parametrize("offset", [301, -301, 10_000])
def test_timestamps_outside_the_window_are_refused(offset):
    ts = str(NOW - offset)
    with pytest.raises(SignatureError, match="window"):
        SignatureCheck(SECRET).verify(ts, sign(SECRET, ts, BODY), BODY, NOW)


@pytest.mark.parametrize("ts, sig", [(None, "ab"), ("123", None), ("12.5", "ab"), ("-5", "ab"),
                                     ("١٧٩٥٤٢٠٠٠٠", "ab"), (str(NOW), "签名")])
def test_missing_or_malformed_headers_are_refused(ts, sig):
    with pytest.raises(SignatureError):
        SignatureCheck(SECRET).verify(ts, sig, BODY, NOW)


def test_known_vector_computed_with_openssl():
    # printf '1795420000.{}' | openssl dgst -sha256 -hmac hotline-dev-secret
    assert sign("hotline-dev-secret", "1795420000", b"{}") == \
        "5b2c469982db523116635cb5cef2f74a8fcb8276bedd62440b97c425677b8615"
