"""Parser attacks: DTDs and entities, markup that canonicalisation or python3-saml's parser hides, encodings, namespaces.

python3-saml's parser drops comments and processing instructions before it verifies: a PI
added inside a signed NameID then verifies (canonical XML keeps PIs, the parsed tree no longer
has it), and comments were the 2018 truncation attacks. We refuse all such markup up front.
"""

from __future__ import annotations

import pytest
import tamper

DOCTYPE = b"<!DOCTYPE samlp:Response [<!ELEMENT samlp:Response ANY>]>\n"
XXE = b'<!DOCTYPE samlp:Response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
XXE_PARAMETER = b'<!DOCTYPE samlp:Response [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>\n'
EXTERNAL_DTD = b'<!DOCTYPE samlp:Response SYSTEM "http://127.0.0.1:9/saml.dtd">\n'
BILLION_LAUGHS = (
    b'<!DOCTYPE samlp:Response [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
    + b"]>\n"
)


@pytest.mark.parametrize(
    "prolog",
    [DOCTYPE, XXE, XXE_PARAMETER, EXTERNAL_DTD, BILLION_LAUGHS],
    ids=["doctype", "xxe", "xxe_parameter_entity", "external_dtd", "billion_laughs"],
)
def test_a_dtd_in_front_of_a_genuine_response_is_refused_in_bounded_work_and_memory(siege, signed, prolog):
    genuine = signed()
    siege.attack(genuine, tamper.with_prolog(genuine, prolog), "saml.forbidden_markup")


def test_an_entity_reference_inside_the_name_id_is_refused(siege, signed):
    genuine = signed()
    evil = tamper.replace_text(
        tamper.with_prolog(genuine, XXE), "alice@acme.example</saml:NameID>", "&xxe;</saml:NameID>"
    )
    siege.attack(genuine, evil, "saml.forbidden_markup")


def test_a_billion_laughs_expanded_in_an_attribute_value_is_refused(siege, signed):
    genuine = signed()
    evil = tamper.replace_text(tamper.with_prolog(genuine, BILLION_LAUGHS), ">Alice Example<", ">&lol9;<")
    siege.attack(genuine, evil, "saml.forbidden_markup")


def test_the_2018_comment_truncation_attack_is_refused(siege, signed):
    # Mallory owns alice@acme.example.evil.example at the IdP; the IdP signs that. A comment that
    # canonicalisation ignores makes naive readers see only the text before it: alice@acme.example.
    genuine = signed(
        name_id="alice@acme.example.evil.example", attributes={"email": ["alice@acme.example.evil.example"]}
    )
    evil = tamper.replace_text(
        tamper.xml(genuine),
        "alice@acme.example.evil.example</saml:NameID>",
        "alice@acme.example<!---->.evil.example</saml:NameID>",
    )
    siege.refused(evil, "saml.forbidden_markup")
    siege.accepted(genuine, "alice@acme.example.evil.example")


INSERTIONS = {
    "comment_in_name_id": ("alice@acme.example</saml:NameID>", "alice@<!-- x -->acme.example</saml:NameID>"),
    "comment_in_attribute_value": (">Alice Example<", ">Alice<!-- x --> Example<"),
    "comment_between_elements": ("<saml:Conditions", "<!-- hello --><saml:Conditions"),
    "pi_in_name_id": ("alice@acme.example</saml:NameID>", "alice@<?evil data?>acme.example</saml:NameID>"),
    "pi_in_attribute_value": (">Alice Example<", "><?evil?>Alice Example<"),
    "cdata_in_name_id": ("alice@acme.example</saml:NameID>", "alice@<![CDATA[acme.example]]></saml:NameID>"),
    "cdata_in_attribute_value": (">Alice Example<", "><![CDATA[Alice Example]]><"),
}


@pytest.mark.parametrize("insertion", list(INSERTIONS))
def test_comments_processing_instructions_and_cdata_in_signed_content_are_refused(siege, signed, insertion):
    genuine = signed()
    old, new = INSERTIONS[insertion]
    siege.attack(genuine, tamper.replace_text(tamper.xml(genuine), old, new), "saml.forbidden_markup")


@pytest.mark.parametrize("where", ["before", "after"])
def test_markup_outside_the_root_element_is_refused(siege, signed, where):
    genuine = signed()
    extra = b"<?evil instruction?><!-- note -->"
    evil = extra + tamper.xml(genuine) if where == "before" else tamper.xml(genuine) + extra
    siege.attack(genuine, evil, "saml.forbidden_markup")


def test_an_xml_declaration_alone_is_fine(siege, signed):
    siege.accepted(b'<?xml version="1.0" encoding="UTF-8"?>\n' + tamper.xml(signed()))


# --- Encodings -----------------------------------------------------------------------------------


def test_a_utf16_encoded_response_is_refused(siege, signed):
    genuine = signed()
    text = '<?xml version="1.0" encoding="UTF-16"?>' + tamper.xml(genuine).decode()
    siege.attack(genuine, text.encode("utf-16"), "saml.malformed")


def test_a_utf16_response_without_byte_order_mark_cannot_hide_a_comment_from_the_markup_check(siege, signed):
    genuine = signed()
    text = tamper.replace_text(
        tamper.xml(genuine), "alice@acme.example</saml:NameID>", "alice@<!-- x -->acme.example</saml:NameID>"
    ).decode()
    siege.attack(genuine, text.encode("utf-16-le"), "saml.malformed")


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "UTF-7", "IBM037"])
def test_a_declared_encoding_other_than_utf8_is_refused(siege, signed, encoding):
    genuine = signed()
    siege.attack(
        genuine, f'<?xml version="1.0" encoding="{encoding}"?>'.encode() + tamper.xml(genuine), "saml.malformed"
    )


def test_invalid_utf8_is_refused(siege, signed):
    genuine = signed()
    siege.attack(genuine, tamper.xml(genuine).replace(b"Alice Example", b"Alice \xff\xfe Example"), "saml.malformed")


# --- Namespaces ----------------------------------------------------------------------------------


def test_an_undeclared_prefix_is_refused(siege, signed):
    genuine = signed()
    evil = tamper.replace_text(tamper.xml(genuine), "<saml:Conditions", "<evil:Extra/><saml:Conditions")
    siege.attack(genuine, evil, "saml.malformed")


def test_an_empty_namespace_binding_is_refused(siege, signed):
    genuine = signed()
    evil = tamper.replace_text(tamper.xml(genuine), "<saml:NameID ", '<saml:NameID xmlns:saml="" ')
    siege.attack(genuine, evil, "saml.malformed")


def test_a_response_in_the_saml_1_protocol_namespace_is_refused(siege, signed):
    genuine = signed()
    evil = tamper.xml(genuine).replace(b"urn:oasis:names:tc:SAML:2.0:protocol", b"urn:oasis:names:tc:SAML:1.0:protocol")
    siege.attack(genuine, evil, "saml.malformed")


def test_a_name_id_rebound_to_a_look_alike_namespace_is_refused(siege, signed):
    genuine = signed()
    evil = tamper.replace_text(
        tamper.xml(genuine), "<saml:NameID ", '<saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion#" '
    )
    siege.attack(genuine, evil, "saml.name_id_missing")


def test_an_assertion_in_a_look_alike_namespace_is_refused(siege, signed):
    genuine = signed(sign_response=False)
    evil = tamper.replace_text(
        tamper.xml(genuine), "<saml:Assertion ", '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion#" '
    )
    siege.attack(genuine, evil, "saml.assertion_count")


def test_elements_nested_past_the_parsers_depth_limit_are_refused(siege, signed):
    genuine = signed()
    depth = 5000
    nest = "<x:n xmlns:x='urn:x'>" * depth + "</x:n>" * depth
    evil = tamper.replace_text(
        tamper.xml(genuine), "<samlp:Status>", "<samlp:Extensions>" + nest + "</samlp:Extensions><samlp:Status>"
    )
    siege.attack(genuine, evil, "saml.malformed")


# --- Encryption (not supported yet: refused before python3-saml would decrypt with our key) --------

ENCRYPTED = (
    '<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#">'
    '<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>'
    '<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey>'
    '<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-1_5"/>'
    "<xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>"
    "<xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"
)


@pytest.mark.parametrize("placement", ["instead", "beside", "in_extensions"])
def test_an_encrypted_assertion_is_refused_before_anything_is_decrypted(siege, signed, placement, monkeypatch):
    from onelogin.saml2.response import OneLogin_Saml2_Response

    def never(*args, **kwargs):
        raise AssertionError("python3-saml was asked to decrypt an attacker's message")

    monkeypatch.setattr(OneLogin_Saml2_Response, "_decrypt_assertion", never)
    genuine = signed(sign_response=False)
    message = tamper.xml(genuine).decode()
    start, end = message.index("<saml:Assertion "), message.index("</saml:Assertion>") + len("</saml:Assertion>")
    if placement == "instead":
        message = message[:start] + ENCRYPTED + message[end:]
    elif placement == "beside":
        message = message[:end] + ENCRYPTED + message[end:]
    else:
        message = message.replace(
            "<samlp:Status>", "<samlp:Extensions>" + ENCRYPTED + "</samlp:Extensions><samlp:Status>", 1
        )
    siege.attack(genuine, message.encode(), "saml.encrypted_unsupported")


def test_an_encrypted_name_id_is_refused(siege, signed):
    genuine = signed()
    encrypted_id = ENCRYPTED.replace("saml:EncryptedAssertion", "saml:EncryptedID")
    evil = tamper.xml(genuine).decode()
    start = evil.index("<saml:NameID ")
    end = evil.index("</saml:NameID>") + len("</saml:NameID>")
    siege.attack(genuine, (evil[:start] + encrypted_id + evil[end:]).encode(), "saml.encrypted_unsupported")
