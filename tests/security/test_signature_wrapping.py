"""Signature wrapping (XSW): a genuine signature kept valid while the SP is made to read other content.

The eight classic variants (Somorovsky et al., "On Breaking SAML", USENIX Security 2012, as
SAML Raider names them), variants that keep exactly one assertion where a naive count looks,
duplicate IDs, and identity placed outside the signed assertion. Each is built from a genuine
message signed by the test IdP and never re-signed; the genuine message then signs Alice in.
"""

from __future__ import annotations

import pytest
import tamper
from lxml import etree
from tamper import SAML, SAMLP


def _response_signed(signed):
    return signed(sign_assertion=False)


def _assertion_signed(signed):
    return signed(sign_response=False)


# --- XSW1 and XSW2: the Response's signature ---------------------------------------------------


def xsw1(genuine):
    """Evil Response outside; the original Response, unsigned, hidden inside the Signature it still matches."""
    evil = tamper.clone(genuine)
    evil.set("ID", "_evil_response")
    tamper.rename_identity(evil)
    original = tamper.strip_signature(tamper.clone(genuine))
    tamper.signature(evil).append(original)
    return evil


def xsw2(genuine):
    """As XSW1, but the original Response sits before the Signature, detached from it."""
    evil = tamper.clone(genuine)
    evil.set("ID", "_evil_response")
    tamper.rename_identity(evil)
    original = tamper.strip_signature(tamper.clone(genuine))
    tamper.signature(evil).addprevious(original)
    return evil


# --- XSW3 to XSW8: the Assertion's signature ----------------------------------------------------


def xsw3(genuine):
    """An unsigned evil assertion before the signed original."""
    evil = tamper.clone(genuine)
    tamper.assertion(evil).addprevious(tamper.evil_assertion(tamper.assertion(genuine)))
    return evil


def xsw4(genuine):
    """The evil assertion wraps the signed original."""
    evil = tamper.clone(genuine)
    original = tamper.assertion(evil)
    wrapper = tamper.evil_assertion(original)
    original.addprevious(wrapper)
    wrapper.append(original)
    return evil


def xsw5(genuine):
    """The evil assertion carries the original's signature; an unsigned copy of the original is appended."""
    evil = tamper.clone(genuine)
    modified = tamper.assertion(evil)
    modified.set("ID", "_evil")
    tamper.rename_identity(evil)
    evil.append(tamper.strip_signature(tamper.clone(tamper.assertion(genuine))))
    return evil


def xsw6(genuine):
    """As XSW5, with the original copy inside the evil assertion's Signature."""
    evil = tamper.clone(genuine)
    modified = tamper.assertion(evil)
    modified.set("ID", "_evil")
    tamper.rename_identity(evil)
    tamper.signature(modified).append(tamper.strip_signature(tamper.clone(tamper.assertion(genuine))))
    return evil


def xsw7(genuine):
    """The signed original moved into samlp:Extensions; an unsigned evil assertion in its place."""
    evil = tamper.clone(genuine)
    original = tamper.assertion(evil)
    original.addprevious(tamper.evil_assertion(original))
    tamper.extensions(evil).append(original)
    return evil


def xsw8(genuine):
    """The evil assertion carries the signature; the original, unsigned, sits in a ds:Object inside it."""
    evil = tamper.clone(genuine)
    modified = tamper.assertion(evil)
    modified.set("ID", "_evil")
    tamper.rename_identity(evil)
    tamper.ds_object(tamper.signature(modified)).append(tamper.strip_signature(tamper.clone(tamper.assertion(genuine))))
    return evil


def evil_after(genuine):
    """An unsigned evil assertion after the signed original."""
    evil = tamper.clone(genuine)
    evil.append(tamper.evil_assertion(tamper.assertion(genuine)))
    return evil


@pytest.mark.parametrize("wrap", [xsw1, xsw2], ids=["XSW1", "XSW2"])
def test_response_signature_wrapping_is_refused_and_the_genuine_response_still_signs_in(siege, signed, wrap):
    genuine = _response_signed(signed)
    siege.attack(genuine, wrap(genuine), "saml.assertion_count")


@pytest.mark.parametrize(
    "wrap",
    [xsw3, xsw4, xsw5, xsw6, xsw7, xsw8, evil_after],
    ids=["XSW3-before", "XSW4-inside", "XSW5", "XSW6", "XSW7-extensions", "XSW8-object", "after"],
)
def test_assertion_signature_wrapping_is_refused_and_the_genuine_response_still_signs_in(siege, signed, wrap):
    genuine = _assertion_signed(signed)
    siege.attack(genuine, wrap(genuine), "saml.assertion_count")


@pytest.mark.parametrize(
    "wrap",
    [xsw3, xsw4, xsw5, xsw6, xsw7, xsw8, evil_after],
    ids=["XSW3", "XSW4", "XSW5", "XSW6", "XSW7", "XSW8", "after"],
)
def test_wrapping_a_response_whose_response_and_assertion_are_both_signed_is_refused(siege, signed, wrap):
    genuine = signed()
    siege.attack(genuine, wrap(genuine), "saml.assertion_count")


# --- One assertion where a naive count looks ----------------------------------------------------


def original_in_unknown_element(genuine):
    evil = tamper.clone(genuine)
    original = tamper.assertion(evil)
    original.addprevious(tamper.evil_assertion(original))
    holder = etree.SubElement(tamper.extensions(evil), "{urn:example:evil}Holder")
    holder.append(original)
    return evil


def original_in_status_detail(genuine):
    evil = tamper.clone(genuine)
    original = tamper.assertion(evil)
    original.addprevious(tamper.evil_assertion(original))
    detail = etree.SubElement(evil.find(f"{{{SAMLP}}}Status"), f"{{{SAMLP}}}StatusDetail")
    detail.append(original)
    return evil


def original_in_evil_advice(genuine):
    evil = tamper.clone(genuine)
    original = tamper.assertion(evil)
    wrapper = tamper.evil_assertion(original)
    original.addprevious(wrapper)
    advice = etree.Element(f"{{{SAML}}}Advice")
    wrapper.find(f"{{{SAML}}}Conditions").addnext(advice)
    advice.append(original)
    return evil


def original_in_response_signature_object(genuine):
    """Response and assertion signed: hide the original in a ds:Object of a re-used Response signature."""
    evil = tamper.clone(genuine)
    original = tamper.assertion(evil)
    original.addprevious(tamper.evil_assertion(original))
    tamper.ds_object(tamper.signature(evil)).append(original)
    return evil


@pytest.mark.parametrize(
    "wrap",
    [
        original_in_unknown_element,
        original_in_status_detail,
        original_in_evil_advice,
        original_in_response_signature_object,
    ],
)
def test_one_direct_assertion_with_the_signed_original_hidden_elsewhere_is_refused(siege, signed, wrap):
    genuine = signed() if wrap is original_in_response_signature_object else _assertion_signed(signed)
    tampered = wrap(genuine)
    assert len(tampered.findall(f"{{{SAML}}}Assertion")) == 1  # what a naive count of direct children sees
    siege.attack(genuine, tampered, "saml.assertion_count")


# --- Duplicate IDs -------------------------------------------------------------------------------


def test_a_response_reusing_the_signed_assertions_id_is_refused(siege, signed):
    genuine = _assertion_signed(signed)
    evil = tamper.clone(genuine)
    evil.set("ID", tamper.assertion(evil).get("ID"))
    siege.attack(genuine, evil, "saml.duplicate_id")


def test_an_extension_element_carrying_the_signed_assertions_id_is_refused(siege, signed):
    genuine = _assertion_signed(signed)
    evil = tamper.clone(genuine)
    decoy = etree.SubElement(tamper.extensions(evil), "{urn:example:evil}Decoy", ID=tamper.assertion(evil).get("ID"))
    decoy.text = tamper.EVIL_NAME_ID
    siege.attack(genuine, evil, "saml.duplicate_id")


def test_an_evil_assertion_with_the_same_id_as_the_signed_one_is_refused(siege, signed):
    genuine = _assertion_signed(signed)
    evil = tamper.clone(genuine)
    original = tamper.assertion(evil)
    original.addprevious(tamper.evil_assertion(original, new_id=original.get("ID")))
    siege.attack(genuine, evil, "saml.assertion_count")


# --- Identity outside the signed assertion ---------------------------------------------------------


def _evil_subject() -> etree._Element:
    subject = etree.Element(f"{{{SAML}}}Subject")
    etree.SubElement(subject, f"{{{SAML}}}NameID").text = tamper.EVIL_NAME_ID
    return subject


def _evil_attributes() -> etree._Element:
    statement = etree.Element(f"{{{SAML}}}AttributeStatement")
    attribute = etree.SubElement(statement, f"{{{SAML}}}Attribute", Name="email")
    etree.SubElement(attribute, f"{{{SAML}}}AttributeValue").text = tamper.EVIL_NAME_ID
    return statement


@pytest.mark.parametrize("place", ["extensions", "status_detail", "unknown_wrapper"])
@pytest.mark.parametrize("content", [_evil_subject, _evil_attributes], ids=["subject", "attributes"])
def test_identity_placed_outside_the_signed_assertion_is_refused(siege, signed, place, content):
    genuine = _assertion_signed(signed)
    evil = tamper.clone(genuine)
    if place == "extensions":
        tamper.extensions(evil).append(content())
    elif place == "status_detail":
        etree.SubElement(evil.find(f"{{{SAMLP}}}Status"), f"{{{SAMLP}}}StatusDetail").append(content())
    else:
        etree.SubElement(tamper.extensions(evil), "{urn:example:evil}Wrapper").append(content())
    siege.attack(genuine, evil, "saml.content_outside_assertion")


def test_a_second_signature_hidden_in_extensions_is_refused(siege, signed):
    genuine = _assertion_signed(signed)
    evil = tamper.clone(genuine)
    tamper.extensions(evil).append(tamper.clone(tamper.signature(tamper.assertion(evil))))
    siege.attack(genuine, evil, "saml.signature_structure")


def test_more_than_two_signatures_are_refused(siege, signed):
    genuine = signed()
    evil = tamper.clone(genuine)
    tamper.signature(evil).addnext(tamper.clone(tamper.signature(evil)))
    siege.attack(genuine, evil, "saml.signature_structure")


def test_the_genuine_messages_are_what_the_attacks_start_from(siege, signed):
    # Sanity for the controls above: each signing layout signs in on its own.
    for changes in ({}, {"sign_assertion": False}, {"sign_response": False}):
        siege.accepted(signed(**changes))
        siege.client.post("/logout", data={"csrf_token": siege.client.csrf_token("/login")})
        assert siege.client.get("/me").status_code == 401
