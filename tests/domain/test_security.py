from backorders.domain import security


def test_a_signature_is_the_hmac_of_the_exact_body():
    body = b'{"order_id": "o1"}'
    header = security.sign(body, "secret")
    assert security.signature_matches(body, "secret", header)
    assert not security.signature_matches(body + b" ", "secret", header)
    assert not security.signature_matches(body, "other", header)
    assert not security.signature_matches(body, "secret", header.removeprefix("sha256="))
    assert not security.signature_matches(body, "secret", None)


def test_an_api_key_names_its_account():
    key = security.new_api_key("vendor", "v-1")
    parsed = security.parse_api_key(key)
    assert (parsed.kind, parsed.account_id) == ("vendor", "v-1")
    assert security.key_matches(key, security.sha256_hex(key))
    assert security.parse_api_key("nonsense") is None
    assert security.parse_api_key("sk..x") is None


def test_bearer_token():
    assert security.bearer_token("Bearer abc") == "abc"
    assert security.bearer_token("Basic abc") is None
    assert security.bearer_token(None) is None
