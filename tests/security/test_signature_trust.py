"""Signature presence and trust: only the tenant's IdP key, over the whole assertion, with strong algorithms.

Shape problems (references, transforms, algorithms) are refused before the signature is handed
to xmlsec: `xmlsec_calls` proves that for the transforms an attacker would use for a
pre-authentication DoS (XSLT, XPath).
"""

from __future__ import annotations

import pytest
import tamper
from lxml import etree
from tamper import DS, NS, SAML

from support.keys import make_key_pair
from support.saml_builder import ResponseBuilder

XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"
XPATH_FILTER2 = "http://www.w3.org/2002/06/xmldsig-filter2"
BASE64 = "http://www.w3.org/2000/09/xmldsig#base64"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_WITH_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
C14N_WITH_COMMENTS = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"


@pytest.fixture(scope="module")
def attacker_keys():
    return make_key_pair("Mallory")


@pytest.fixture
def xmlsec_calls(monkeypatch):
    """Record every call to response.verify, the one place xmlsec runs transforms and checks a Response's signatures."""
    from sp.saml import response

    calls = []
    original = response.verify

    def spy(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(response, "verify", spy)
    return calls


# --- Presence ----------------------------------------------------------------------------------


def test_a_response_with_every_signature_stripped_is_refused(siege, signed):
    genuine = signed()
    evil = tamper.clone(genuine)
    tamper.strip_signature(evil)
    tamper.strip_signature(tamper.assertion(evil))
    siege.attack(genuine, evil, "saml.signature_missing")


def test_stripping_the_response_signature_and_changing_the_assertion_is_refused(siege, signed):
    genuine = signed()
    evil = tamper.rename_identity(tamper.strip_signature(tamper.clone(genuine)))
    siege.attack(genuine, evil, "saml.signature_invalid")


def test_stripping_the_assertion_signature_and_changing_the_assertion_is_refused(siege, signed):
    genuine = signed()
    evil = tamper.clone(genuine)
    tamper.strip_signature(tamper.assertion(evil))
    tamper.rename_identity(evil)
    siege.attack(genuine, evil, "saml.signature_invalid")


def test_stripping_the_only_signature_of_a_response_signed_response_is_refused(siege, signed):
    genuine = signed(sign_assertion=False)
    evil = tamper.rename_identity(tamper.strip_signature(tamper.clone(genuine)))
    siege.attack(genuine, evil, "saml.signature_missing")


def test_an_emptied_signature_value_is_refused(siege, signed):
    genuine = signed(sign_response=False)
    evil = tamper.clone(genuine)
    tamper.signature(tamper.assertion(evil)).find(f"{{{DS}}}SignatureValue").text = ""
    siege.attack(genuine, evil, "saml.signature_invalid")


def test_a_signature_without_signed_info_is_refused(siege, signed):
    genuine = signed(sign_response=False)
    evil = tamper.clone(genuine)
    sig = tamper.signature(tamper.assertion(evil))
    sig.remove(sig.find(f"{{{DS}}}SignedInfo"))
    siege.attack(genuine, evil, "saml.signature_structure")


# --- Content changed after signing --------------------------------------------------------------


def _later(value: str) -> str:
    """A dateTime a minute later (still valid), to extend a signed validity window."""
    return value[:14] + f"{(int(value[14:16]) + 1) % 60:02d}" + value[16:]


CHANGES = {
    "name_id": lambda a: setattr(a.find("saml:Subject/saml:NameID", NS), "text", tamper.EVIL_NAME_ID),
    "email_attribute": lambda a: setattr(
        a.find(".//saml:Attribute[@Name='email']/saml:AttributeValue", NS), "text", tamper.EVIL_NAME_ID
    ),
    "display_name": lambda a: setattr(
        a.find(".//saml:Attribute[@Name='displayName']/saml:AttributeValue", NS), "text", "Root"
    ),
    "extra_attribute_value": lambda a: etree.SubElement(
        a.find(".//saml:Attribute[@Name='email']", NS), f"{{{SAML}}}AttributeValue"
    ).__setattr__("text", "x"),
    "session_index": lambda a: a.find("saml:AuthnStatement", NS).set("SessionIndex", "_other"),
    "conditions_extended": lambda a: a.find("saml:Conditions", NS).set(
        "NotOnOrAfter", _later(a.find("saml:Conditions", NS).get("NotOnOrAfter"))
    ),
    "name_id_format": lambda a: a.find("saml:Subject/saml:NameID", NS).set(
        "Format", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    ),
}


@pytest.mark.parametrize("layout", ["assertion", "response", "both"])
@pytest.mark.parametrize("change", list(CHANGES))
def test_assertion_content_changed_after_signing_is_refused(siege, signed, change, layout):
    genuine = signed(sign_response=layout != "assertion", sign_assertion=layout != "response")
    evil = tamper.clone(genuine)
    CHANGES[change](tamper.assertion(evil))
    siege.attack(genuine, evil, "saml.signature_invalid")


# --- Whose key -----------------------------------------------------------------------------------


def _resign(builder, root, key_pem, cert_pem, *, response: bool) -> etree._Element:
    evil = tamper.clone(root)
    target = evil if response else tamper.assertion(evil)
    tamper.strip_signature(target)
    builder.sign(target, key_pem=key_pem, cert_pem=cert_pem)
    return tamper.clone(evil)


@pytest.mark.parametrize("layout", ["assertion", "response"])
def test_a_signature_by_an_attacker_key_with_its_own_certificate_in_key_info_is_refused(
    siege, signed, builder, attacker_keys, layout
):
    genuine = signed(sign_response=layout == "response", sign_assertion=layout == "assertion")
    evil = tamper.rename_identity(tamper.clone(genuine))
    evil = _resign(builder, evil, *attacker_keys, response=layout == "response")
    siege.attack(genuine, evil, "saml.signature_invalid")


@pytest.mark.parametrize("layout", ["assertion", "response"])
def test_a_signature_by_an_attacker_key_presenting_the_genuine_certificate_is_refused(
    siege, signed, builder, attacker_keys, layout
):
    genuine = signed(sign_response=layout == "response", sign_assertion=layout == "assertion")
    evil = tamper.rename_identity(tamper.clone(genuine))
    evil = _resign(builder, evil, attacker_keys[0], builder.cert_pem, response=layout == "response")
    siege.attack(genuine, evil, "saml.signature_invalid")


def test_an_hmac_signature_keyed_with_the_idps_public_certificate_is_refused_before_xmlsec(
    siege, signed, builder, xmlsec_calls
):
    genuine = signed(sign_response=False)
    evil = tamper.clone(genuine)
    tamper.hmac_resign(tamper.signature(tamper.assertion(evil)), builder.cert_pem)
    siege.attack(genuine, evil, "saml.weak_algorithm")
    assert len(xmlsec_calls) == 1  # the control only


def test_a_response_for_this_tenant_signed_by_another_tenants_idp_is_refused(siege, builder, app):
    other_key, other_cert = make_key_pair("Globex IdP")
    # Globex's IdP (a real, trusted IdP of another tenant) signs a response naming acme's IdP and ACS.
    impostor = ResponseBuilder(other_key, other_cert, entity_id=builder.entity_id, sp_base=builder.sp_base, slug="acme")
    from support.journeys import add_tenant

    add_tenant(
        app,
        "globex",
        ResponseBuilder(other_key, other_cert, "https://idp.globex.example/saml", builder.sp_base, "globex").metadata(),
    )
    evil = impostor.build_tree(impostor.spec())
    siege.attack(builder.build_tree(builder.spec()), evil, "saml.signature_invalid")


# --- What the signature points at ----------------------------------------------------------------


@pytest.mark.parametrize(
    "uri", ["response", "", "#_nowhere", "https://evil.example/a.xml", "#xpointer(/)", "#xpointer(id('ID'))"]
)
def test_an_assertion_signature_referring_to_anything_but_its_assertion_is_refused(siege, signed, uri):
    genuine = signed(sign_response=False)
    evil = tamper.clone(genuine)
    target = "#" + evil.get("ID") if uri == "response" else uri
    tamper.reference(tamper.signature(tamper.assertion(evil))).set("URI", target)
    siege.attack(genuine, evil, "saml.signature_structure")


def test_a_signature_with_two_references_is_refused(siege, signed):
    genuine = signed(sign_response=False)
    evil = tamper.clone(genuine)
    ref = tamper.reference(tamper.signature(tamper.assertion(evil)))
    extra = tamper.clone(ref)
    extra.set("URI", "#" + evil.get("ID"))
    ref.addnext(extra)
    siege.attack(genuine, evil, "saml.signature_structure")


def test_a_signature_carrying_an_object_is_refused(siege, signed):
    genuine = signed(sign_response=False)
    evil = tamper.clone(genuine)
    tamper.ds_object(tamper.signature(tamper.assertion(evil))).text = "anything"
    siege.attack(genuine, evil, "saml.signature_structure")


def test_key_info_with_a_retrieval_method_is_refused(siege, signed):
    genuine = signed(sign_response=False)
    evil = tamper.clone(genuine)
    key_info = tamper.signature(tamper.assertion(evil)).find(f"{{{DS}}}KeyInfo")
    etree.SubElement(key_info, f"{{{DS}}}RetrievalMethod", URI="https://evil.example/key")
    siege.attack(genuine, evil, "saml.signature_structure")


# --- Transforms: refused before any runs ---------------------------------------------------------

_XSLT_SHEET = etree.fromstring(
    b'<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">'
    b'<xsl:template match="/"><xsl:value-of select="count(//*//*//*//*)"/></xsl:template></xsl:stylesheet>'
)
_XPATH = etree.fromstring(f'<XPath xmlns="{DS}">count(//. | //@* | //namespace::*)</XPath>'.encode())
_FILTER2 = etree.fromstring(b'<XPath xmlns="http://www.w3.org/2002/06/xmldsig-filter2" Filter="union">//*</XPath>')

TRANSFORM_ATTACKS = {
    "xslt": ([ENVELOPED, XSLT], {XSLT: _XSLT_SHEET}),
    "xpath": ([ENVELOPED, XPATH, EXC_C14N], {XPATH: _XPATH}),
    "xpath_filter2": ([ENVELOPED, XPATH_FILTER2, EXC_C14N], {XPATH_FILTER2: _FILTER2}),
    "base64": ([ENVELOPED, BASE64], None),
    "c14n_with_comments": ([ENVELOPED, EXC_C14N_WITH_COMMENTS], None),
    "inclusive_c14n_with_comments": ([ENVELOPED, C14N_WITH_COMMENTS], None),
    "no_enveloped_transform": ([EXC_C14N], None),
    "no_transforms": ([], None),
    "enveloped_twice": ([ENVELOPED, ENVELOPED, EXC_C14N], None),
    "thousand_canonicalisations": ([ENVELOPED] + [EXC_C14N] * 1000, None),
}


@pytest.mark.parametrize("attack", list(TRANSFORM_ATTACKS))
def test_a_transform_other_than_enveloped_and_one_canonicalisation_is_refused_before_xmlsec_runs(
    siege, signed, xmlsec_calls, attack
):
    genuine = signed(sign_response=False)
    evil = tamper.clone(genuine)
    algorithms, parameters = TRANSFORM_ATTACKS[attack]
    tamper.set_transforms(tamper.signature(tamper.assertion(evil)), algorithms, parameters)
    siege.attack(genuine, evil, "saml.signature_structure")
    assert len(xmlsec_calls) == 1  # only the control reached signature verification


def test_a_canonicalisation_method_that_keeps_comments_is_refused(siege, signed, xmlsec_calls):
    genuine = signed(sign_response=False)
    evil = tamper.clone(genuine)
    tamper.signature(tamper.assertion(evil)).find("ds:SignedInfo/ds:CanonicalizationMethod", NS).set(
        "Algorithm", EXC_C14N_WITH_COMMENTS
    )
    siege.attack(genuine, evil, "saml.signature_structure")
    assert len(xmlsec_calls) == 1


def test_a_transform_with_a_parameter_other_than_inclusive_namespaces_is_refused(siege, signed):
    genuine = signed(sign_response=False)
    evil = tamper.clone(genuine)
    etree.SubElement(
        tamper.reference(tamper.signature(tamper.assertion(evil))).find("ds:Transforms/ds:Transform", NS),
        f"{{{DS}}}XPath",
    ).text = "//."
    siege.attack(genuine, evil, "saml.signature_structure")


def test_okta_style_inclusive_namespaces_on_exclusive_canonicalisation_is_a_valid_signature(siege, signed):
    # Okta (and others) sign with <ec:InclusiveNamespaces PrefixList="xs"/>: a parameter we must accept.
    genuine = signed(inclusive_prefixes=["xs", "saml"])
    assert b"InclusiveNamespaces" in tamper.xml(genuine)
    siege.accepted(genuine)


# --- Algorithms ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sign_alg,digest_alg", [("rsa-sha1", "sha256"), ("rsa-sha256", "sha1"), ("rsa-sha1", "sha1")])
def test_an_idp_signing_with_sha1_is_refused_before_xmlsec(siege, signed, sign_alg, digest_alg, xmlsec_calls):
    siege.refused(signed(sign_alg=sign_alg, digest_alg=digest_alg), "saml.weak_algorithm")
    siege.accepted(signed(sign_alg="rsa-sha512", digest_alg="sha512"))
    assert len(xmlsec_calls) == 1


@pytest.mark.parametrize("where", ["SignatureMethod", "DigestMethod"])
@pytest.mark.parametrize(
    "algorithm",
    [
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        "http://www.w3.org/2001/04/xmldsig-more#md5",
        "urn:example:unknown",
        "",
    ],
)
def test_a_weak_or_unknown_algorithm_named_after_signing_is_refused(siege, signed, where, algorithm):
    genuine = signed(sign_response=False)
    evil = tamper.clone(genuine)
    tamper.signature(tamper.assertion(evil)).find(f".//ds:{where}", NS).set("Algorithm", algorithm)
    siege.attack(genuine, evil, "saml.weak_algorithm")


def test_a_digest_value_smuggled_outside_the_signature_is_not_the_one_checked(siege, signed):
    # ruby-saml 2024 (CVE-2024-45409): a document-wide search for DigestValue found the attacker's.
    import base64
    import hashlib

    genuine = signed(sign_response=False)
    evil = tamper.rename_identity(tamper.clone(genuine))
    changed = tamper.clone(tamper.assertion(evil))
    tamper.strip_signature(changed)
    digest = base64.b64encode(hashlib.sha256(etree.tostring(changed, method="c14n", exclusive=True)).digest()).decode()
    decoy = etree.SubElement(
        etree.SubElement(tamper.extensions(evil), "{urn:example:evil}Holder"), f"{{{DS}}}DigestValue"
    )
    decoy.text = digest
    siege.attack(genuine, evil, "saml.signature_invalid")
