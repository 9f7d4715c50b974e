"""Fuzz targets for the ACS, the SLS and the IdP metadata importer (hypothesis), shared by the smoke test and `make fuzz`.

Each target runs `examples` hypothesis examples and fails on the first input that makes the ACS
or the SLS answer a 5xx (our handler turns any unhandled exception into one) or makes the
metadata reader raise anything but its own refusal. Inputs: random bytes, random SAML-shaped XML,
and byte- and tree-level mutations of a genuine signed message or genuine metadata. Logout
messages are signed (HTTP-Redirect query signature) *after* they are made up or mutated, so they
get past the signature precheck and reach every parser and check behind it.
"""

from __future__ import annotations

import contextlib
import string
from urllib.parse import quote_from_bytes

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from tamper import DS, SAML, SAMLP

from sp import errors
from sp.saml import metadata as idp_metadata

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
_SAFE_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " :/#._-@=+<>&\"'\u00e9\u4e2d", max_size=40)
_INTERESTING = [
    "",
    "2.0",
    "#_a",
    "_a",
    "2024-13-45T10:00:00Z",
    "9999-12-31T23:59:59Z",
    "2030-01-01T00:00:00Z",
    "urn:oasis:names:tc:SAML:2.0:status:Success",
    "urn:oasis:names:tc:SAML:2.0:cm:bearer",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/TR/1999/REC-xslt-19991116",
    "https://sp.example.com/saml/acme/acs",
    "https://sp.example.com/saml/acme/metadata",
    "https://idp.acme.example/saml",
    "a" * 700,
    "urn:oasis:names:tc:SAML:2.0:protocol",
    "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
    "signing",
    "MIIB",
]
_VALUES = st.one_of(st.sampled_from(_INTERESTING), _SAFE_TEXT)
_SAML_TAGS = (
    [f"{{{SAMLP}}}{n}" for n in ("Response", "Status", "StatusCode", "StatusMessage", "Extensions")]
    + [
        f"{{{SAML}}}{n}"
        for n in (
            "Assertion",
            "Issuer",
            "Subject",
            "NameID",
            "SubjectConfirmation",
            "SubjectConfirmationData",
            "Conditions",
            "AudienceRestriction",
            "Audience",
            "AuthnStatement",
            "AttributeStatement",
            "Attribute",
            "AttributeValue",
            "EncryptedAssertion",
            "Advice",
        )
    ]
    + [
        f"{{{DS}}}{n}"
        for n in (
            "Signature",
            "SignedInfo",
            "Reference",
            "Transforms",
            "Transform",
            "DigestMethod",
            "SignatureMethod",
            "CanonicalizationMethod",
            "SignatureValue",
            "KeyInfo",
            "Object",
        )
    ]
    + ["{urn:x}x"]
)
_LOGOUT_TAGS = (
    [
        f"{{{SAMLP}}}{n}"
        for n in ("LogoutRequest", "LogoutResponse", "SessionIndex", "Status", "StatusCode", "Extensions")
    ]
    + [f"{{{SAML}}}{n}" for n in ("Issuer", "NameID", "BaseID", "EncryptedID")]
    + [f"{{{DS}}}Signature", "{urn:x}x"]
)
_MD_TAGS = [
    f"{{{MD}}}{n}"
    for n in (
        "EntitiesDescriptor",
        "EntityDescriptor",
        "IDPSSODescriptor",
        "SPSSODescriptor",
        "KeyDescriptor",
        "SingleSignOnService",
        "SingleLogoutService",
        "NameIDFormat",
    )
] + [f"{{{DS}}}{n}" for n in ("KeyInfo", "X509Data", "X509Certificate")]
_ATTRIBUTES = [
    "ID",
    "Version",
    "IssueInstant",
    "Destination",
    "InResponseTo",
    "Algorithm",
    "URI",
    "Method",
    "Recipient",
    "Reason",
    "NotOnOrAfter",
    "NotBefore",
    "Value",
    "Format",
    "entityID",
    "Binding",
    "Location",
    "use",
    "protocolSupportEnumeration",
    "validUntil",
    "SessionIndex",
    "SessionNotOnOrAfter",
    "Name",
]

FUZZ_SETTINGS = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=False)


def _element(tags):
    return st.builds(
        _make,
        st.sampled_from(tags),
        st.dictionaries(st.sampled_from(_ATTRIBUTES), _VALUES, max_size=4),
        st.one_of(st.none(), _VALUES),
    )


def _make(tag, attributes, text, children=()):
    element = etree.Element(tag)
    for name, value in attributes.items():
        element.set(name, value)
    element.text = text
    for child in children:
        element.append(child)
    return element


def xml_documents(tags, root_tag):
    """Random trees of SAML-ish elements under root_tag, serialised."""
    tree = st.recursive(
        _element(tags),
        lambda kids: st.builds(
            _make,
            st.sampled_from(tags),
            st.dictionaries(st.sampled_from(_ATTRIBUTES), _VALUES, max_size=4),
            st.one_of(st.none(), _VALUES),
            st.lists(kids, max_size=5),
        ),
        max_leaves=40,
    )
    return st.builds(
        lambda attrs, kids: etree.tostring(_make(root_tag, attrs, None, kids)),
        st.dictionaries(st.sampled_from(_ATTRIBUTES), _VALUES, max_size=5),
        st.lists(tree, max_size=6),
    )


BYTE_MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "insert", "delete", "duplicate"]),
        st.floats(0, 1),
        st.integers(0, 255),
        st.integers(1, 200),
    ),
    min_size=1,
    max_size=5,
)
TREE_MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["drop", "duplicate", "move", "attribute", "text", "retag"]),
        st.floats(0, 1),
        st.floats(0, 1),
        st.sampled_from(_ATTRIBUTES),
        _VALUES,
        st.sampled_from(_SAML_TAGS + _MD_TAGS),
    ),
    min_size=1,
    max_size=4,
)


def mutate_bytes(data: bytes, mutations) -> bytes:
    buffer = bytearray(data)
    for operation, where, byte, length in mutations:
        at = int(where * len(buffer)) if buffer else 0
        if operation == "flip" and buffer:
            buffer[min(at, len(buffer) - 1)] ^= byte or 1
        elif operation == "insert":
            buffer[at:at] = bytes([byte]) * (length % 8 + 1)
        elif operation == "delete":
            del buffer[at : at + length]
        else:
            buffer[at:at] = buffer[at : at + length]
    return bytes(buffer)


def mutate_tree(data: bytes, mutations) -> bytes:
    root = etree.fromstring(data)
    for operation, where, other, attribute, value, tag in mutations:
        elements = list(root.iter(tag=etree.Element))[1:]
        if not elements:
            break
        element = elements[int(where * len(elements)) % len(elements)]
        target = elements[int(other * len(elements)) % len(elements)]
        if operation == "drop":
            element.getparent().remove(element)
        elif operation == "duplicate":
            element.addnext(etree.fromstring(etree.tostring(element)))
        elif operation == "move" and target is not element and element not in target.iterancestors():
            target.append(element)
        elif operation == "attribute":
            element.set(attribute, value)
        elif operation == "text":
            element.text = value
        elif operation == "retag":
            element.tag = tag
    return etree.tostring(root)


# --- Targets ---------------------------------------------------------------------------------------


def _post_is_handled(siege, payload) -> None:
    response, outcome = siege.post(payload)
    assert outcome.status < 500, (outcome.status, outcome.code, payload[:300])
    assert outcome.status in (303, 400, 403, 404, 409, 413), (outcome.status, payload[:300])


def acs_random_bytes(siege, examples: int) -> None:
    @settings(max_examples=examples, **FUZZ_SETTINGS)
    @given(st.binary(max_size=4096), st.booleans())
    def run(payload, as_base64):
        _post_is_handled(siege, payload if as_base64 else payload.decode("latin-1"))

    run()


def acs_random_xml(siege, examples: int) -> None:
    @settings(max_examples=examples, **FUZZ_SETTINGS)
    @given(xml_documents(_SAML_TAGS, f"{{{SAMLP}}}Response"))
    def run(document):
        _post_is_handled(siege, document)

    run()


def acs_mutated_genuine(siege, signed, examples: int) -> None:
    @settings(max_examples=examples, **FUZZ_SETTINGS)
    @given(
        st.one_of(st.tuples(st.just("bytes"), BYTE_MUTATIONS), st.tuples(st.just("tree"), TREE_MUTATIONS)),
        st.sampled_from([{}, {"sign_response": False}, {"sign_assertion": False}]),
    )
    def run(mutation, layout):
        genuine = etree.tostring(signed(**layout))
        kind, operations = mutation
        _post_is_handled(
            siege, mutate_bytes(genuine, operations) if kind == "bytes" else mutate_tree(genuine, operations)
        )

    run()


_SLS_STATUSES = (302, 303, 400, 404, 409, 413)


def _sls_is_handled(logout_siege, query: str) -> None:
    response, outcome = logout_siege.send(query)
    assert outcome.status < 500, (outcome.status, outcome.code, query[:300])
    assert outcome.status in _SLS_STATUSES, (outcome.status, query[:300])


def sls_random_bytes(logout_siege, examples: int) -> None:
    @settings(max_examples=examples, **FUZZ_SETTINGS)
    @given(
        st.binary(max_size=2048),
        st.sampled_from(["signed", "unsigned", "raw"]),
        st.sampled_from(["SAMLRequest", "SAMLResponse"]),
    )
    def run(payload, how, kind):
        logouts = logout_siege.logouts
        if how == "raw":
            _sls_is_handled(logout_siege, f"{kind}=" + quote_from_bytes(payload, safe="&=%+/"))
        else:
            _sls_is_handled(
                logout_siege, logouts.query(payload, kind=kind, sig_alg="rsa-sha256" if how == "signed" else None)
            )

    run()


def sls_random_xml(logout_siege, examples: int) -> None:
    @settings(max_examples=examples, **FUZZ_SETTINGS)
    @given(st.sampled_from(["LogoutRequest", "LogoutResponse"]), st.data())
    def run(root, data):
        document = data.draw(xml_documents(_LOGOUT_TAGS, f"{{{SAMLP}}}{root}"))
        kind = "SAMLRequest" if root == "LogoutRequest" else "SAMLResponse"
        _sls_is_handled(logout_siege, logout_siege.logouts.query(document, kind=kind))

    run()


def sls_mutated_genuine(logout_siege, examples: int) -> None:
    @settings(max_examples=examples, **FUZZ_SETTINGS)
    @given(
        st.one_of(st.tuples(st.just("bytes"), BYTE_MUTATIONS), st.tuples(st.just("tree"), TREE_MUTATIONS)),
        st.sampled_from([[], ["_s1"], ["_s1", "_s2"]]),
    )
    def run(mutation, session_indexes):
        logouts = logout_siege.logouts
        genuine = logouts.xml(session_indexes=session_indexes)
        kind, operations = mutation
        mutated = mutate_bytes(genuine, operations) if kind == "bytes" else mutate_tree(genuine, operations)
        _sls_is_handled(logout_siege, logouts.query(mutated))

    run()


def _read_is_handled(data: bytes) -> None:
    with contextlib.suppress(errors.MetadataRejected):
        idp_metadata.read(data)


def metadata_random(examples: int) -> None:
    @settings(max_examples=examples, **FUZZ_SETTINGS)
    @given(
        st.one_of(
            st.binary(max_size=4096),
            xml_documents(_MD_TAGS, f"{{{MD}}}EntityDescriptor"),
            xml_documents(_MD_TAGS, f"{{{MD}}}EntitiesDescriptor"),
        )
    )
    def run(data):
        _read_is_handled(data)

    run()


def metadata_mutated_genuine(genuine: bytes, examples: int) -> None:
    @settings(max_examples=examples, **FUZZ_SETTINGS)
    @given(st.one_of(st.tuples(st.just("bytes"), BYTE_MUTATIONS), st.tuples(st.just("tree"), TREE_MUTATIONS)))
    def run(mutation):
        kind, operations = mutation
        _read_is_handled(mutate_bytes(genuine, operations) if kind == "bytes" else mutate_tree(genuine, operations))

    run()
