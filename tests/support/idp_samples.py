"""IdP metadata shaped like what Okta, Entra ID, ADFS, Shibboleth and Google publish, and aggregates.

The shapes follow the real files (element order, namespaces, the extra descriptors and bindings
each vendor adds); the certificates are throw-away ones made here, with knobs for the cases ops
must be warned about: expiring soon, SHA-1-signed, too short a key.
"""

from __future__ import annotations

import datetime
from functools import cache

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, padding, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from support.keys import cert_body

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
SOAP = "urn:oasis:names:tc:SAML:2.0:bindings:SOAP"
EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
_SHA256_WITH_RSA = bytes.fromhex("06092a864886f70d01010b")
_SHA1_WITH_RSA = bytes.fromhex("06092a864886f70d010105")


@cache
def make_cert(
    name: str, *, days: int = 365, sha1: bool = False, bits: int = 2048, dsa_key: bool = False
) -> tuple[bytes, bytes]:
    """(key_pem, cert_pem): a self-signed certificate valid for `days` more days (negative: expired)."""
    key = dsa.generate_private_key(2048) if dsa_key else rsa.generate_private_key(public_exponent=65537, key_size=bits)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=400))
        .not_valid_after(now + datetime.timedelta(days=days, hours=12))
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    if sha1:
        # cryptography no longer signs with SHA-1, but IdPs still publish such certificates:
        # swap the (same-length) algorithm identifiers and sign the TBS part ourselves.
        tbs = cert.tbs_certificate_bytes.replace(_SHA256_WITH_RSA, _SHA1_WITH_RSA)
        signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
        der = der.replace(_SHA256_WITH_RSA, _SHA1_WITH_RSA).replace(cert.signature, signature)
        cert = x509.load_der_x509_certificate(der)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def cert(name: str, **knobs) -> bytes:
    """Just the certificate PEM of make_cert."""
    return make_cert(name, **knobs)[1]


def key_descriptor(
    cert_pem: bytes, use: str | None = "signing", prefix: str = "md:", ds: str = "ds:", declare_ds: bool = True
) -> str:
    """A KeyDescriptor in the given prefixes ("" for the default namespace); declare_ds=False when the root does."""
    use_attr = f' use="{use}"' if use else ""
    xmlns = "" if not declare_ds else (f' xmlns:{ds[:-1]}="{DS}"' if ds else f' xmlns="{DS}"')
    return (
        f"<{prefix}KeyDescriptor{use_attr}><{ds}KeyInfo{xmlns}><{ds}X509Data><{ds}X509Certificate>"
        f"{cert_body(cert_pem)}</{ds}X509Certificate></{ds}X509Data></{ds}KeyInfo></{prefix}KeyDescriptor>"
    )


def okta(entity_id: str = "http://www.okta.com/exk1fxp0a1B2c3D4e5d7", certs: tuple[bytes, ...] = ()) -> bytes:
    """Okta's app metadata: md: prefix, WantAuthnRequestsSigned, POST then Redirect."""
    certs = certs or (cert("Okta signing"),)
    sso = "https://acme.okta.com/app/acme_cloud_1/exk1fxp0a1B2c3D4e5d7/sso/saml"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<md:EntityDescriptor entityID="{entity_id}" xmlns:md="{MD}">'
        '<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        + "".join(key_descriptor(c) for c in certs)
        + "<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>"
        f"<md:NameIDFormat>{EMAIL}</md:NameIDFormat>"
        f'<md:SingleSignOnService Binding="{POST}" Location="{sso}"/>'
        f'<md:SingleSignOnService Binding="{REDIRECT}" Location="{sso}"/>'
        "</md:IDPSSODescriptor></md:EntityDescriptor>"
    ).encode()


def _wsfed_role_descriptors(certs: tuple[bytes, ...], host: str) -> str:
    """The WS-Federation RoleDescriptors ADFS and Entra ID put before the SAML IdP descriptor."""
    fed = "http://docs.oasis-open.org/wsfed/federation/200706"
    return "".join(
        f'<RoleDescriptor xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:fed="{fed}" '
        f'xsi:type="fed:{kind}" protocolSupportEnumeration="{fed}">'
        + "".join(key_descriptor(c, prefix="", ds="") for c in certs)
        + '<fed:ClaimTypesOffered><auth:ClaimType Uri="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name" '
        'xmlns:auth="http://docs.oasis-open.org/wsfed/authorization/200706"><auth:DisplayName>Name</auth:DisplayName>'
        "</auth:ClaimType></fed:ClaimTypesOffered>"
        f'<fed:{endpoint}><wsa:EndpointReference xmlns:wsa="http://www.w3.org/2005/08/addressing">'
        f"<wsa:Address>https://{host}/wsfed</wsa:Address></wsa:EndpointReference></fed:{endpoint}>"
        "</RoleDescriptor>"
        for kind, endpoint in (
            ("SecurityTokenServiceType", "PassiveRequestorEndpoint"),
            ("ApplicationServiceType", "ApplicationServiceEndpoint"),
        )
    )


def entra(
    entity_id: str = "https://sts.windows.net/0b9c2f57-1c2d-4e5f-8a9b-0c1d2e3f4a5b/", certs: tuple[bytes, ...] = ()
) -> bytes:
    """Entra ID federation metadata: default namespace, WS-Fed RoleDescriptors first, then the IdP."""
    certs = certs or (cert("Microsoft Azure Federated SSO Certificate"),)
    url = "https://login.microsoftonline.com/0b9c2f57-1c2d-4e5f-8a9b-0c1d2e3f4a5b/saml2"
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<EntityDescriptor ID="_5f1e7f43-2d7c-4d8b-9e0a-6a1b2c3d4e5f" entityID="{entity_id}" xmlns="{MD}">'
        + _wsfed_role_descriptors(certs, "login.microsoftonline.com/0b9c2f57-1c2d-4e5f-8a9b-0c1d2e3f4a5b")
        + '<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        + "".join(key_descriptor(c, prefix="", ds="") for c in certs)
        + f'<SingleLogoutService Binding="{REDIRECT}" Location="{url}"/>'
        f'<SingleSignOnService Binding="{REDIRECT}" Location="{url}"/>'
        f'<SingleSignOnService Binding="{POST}" Location="{url}"/>'
        "</IDPSSODescriptor></EntityDescriptor>"
    ).encode()


def adfs(
    entity_id: str = "http://adfs.contoso.example/adfs/services/trust",
    certs: tuple[bytes, ...] = (),
    encryption_cert: bytes | None = None,
) -> bytes:
    """ADFS FederationMetadata.xml: RoleDescriptors, an SPSSODescriptor *and* the IdP, encryption certificates."""
    certs = certs or (cert("ADFS Signing - adfs.contoso.example"),)
    encryption = encryption_cert or cert("ADFS Encryption - adfs.contoso.example")
    base = "https://adfs.contoso.example/adfs/ls/"
    saml = "urn:oasis:names:tc:SAML:2.0:assertion"
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<EntityDescriptor ID="_c8a3d1e2-0f4b-4c6d-9e8f-1a2b3c4d5e6f" entityID="{entity_id}" xmlns="{MD}">'
        + _wsfed_role_descriptors(certs, "adfs.contoso.example/adfs/ls")
        + '<SPSSODescriptor WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        + key_descriptor(encryption, "encryption", prefix="", ds="")
        + key_descriptor(certs[0], prefix="", ds="")
        + f'<SingleLogoutService Binding="{REDIRECT}" Location="{base}"/>'
        f"<NameIDFormat>{EMAIL}</NameIDFormat>"
        f'<AssertionConsumerService Binding="{POST}" Location="{base}" index="0" isDefault="true"/>'
        "</SPSSODescriptor>"
        '<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        + key_descriptor(encryption, "encryption", prefix="", ds="")
        + "".join(key_descriptor(c, prefix="", ds="") for c in certs)
        + f'<SingleLogoutService Binding="{REDIRECT}" Location="{base}"/>'
        f'<SingleLogoutService Binding="{POST}" Location="{base}"/>'
        f"<NameIDFormat>{EMAIL}</NameIDFormat>"
        "<NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</NameIDFormat>"
        "<NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</NameIDFormat>"
        f'<SingleSignOnService Binding="{REDIRECT}" Location="{base}"/>'
        f'<SingleSignOnService Binding="{POST}" Location="{base}"/>'
        f'<Attribute Name="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress" '
        f'NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri" FriendlyName="E-Mail Address" xmlns="{saml}"/>'
        "</IDPSSODescriptor></EntityDescriptor>"
    ).encode()


def shibboleth(
    entity_id: str = "https://idp.uni.example.edu/idp/shibboleth",
    certs: tuple[bytes, ...] = (),
    valid_until: str | None = None,
) -> bytes:
    """A Shibboleth IdP: Extensions (scope, UI info), Artifact/SOAP endpoints, SAML 1 bindings, a KeyDescriptor without use."""
    certs = certs or (cert("idp.uni.example.edu backchannel"), cert("idp.uni.example.edu"))
    host = "https://idp.uni.example.edu"
    until = f' validUntil="{valid_until}"' if valid_until else ""
    keys = (
        key_descriptor(certs[0], prefix="", declare_ds=False)
        + "".join(key_descriptor(c, use=None, prefix="", declare_ds=False) for c in certs[1:])
        + key_descriptor(cert("idp.uni.example.edu encryption"), "encryption", prefix="", declare_ds=False)
    )
    return (
        f'<EntityDescriptor xmlns="{MD}" xmlns:ds="{DS}" xmlns:shibmd="urn:mace:shibboleth:metadata:1.0" '
        f'xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" entityID="{entity_id}"{until}>'
        '<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol '
        'urn:oasis:names:tc:SAML:1.1:protocol urn:mace:shibboleth:1.0">'
        '<Extensions><shibmd:Scope regexp="false">uni.example.edu</shibmd:Scope>'
        '<mdui:UIInfo><mdui:DisplayName xml:lang="en">Example University</mdui:DisplayName>'
        '<mdui:Logo height="80" width="80">https://www.uni.example.edu/logo.png</mdui:Logo></mdui:UIInfo></Extensions>'
        + keys
        + '<ArtifactResolutionService Binding="urn:oasis:names:tc:SAML:1.0:bindings:SOAP-binding" '
        f'Location="{host}:8443/idp/profile/SAML1/SOAP/ArtifactResolution" index="1"/>'
        f'<ArtifactResolutionService Binding="{SOAP}" Location="{host}:8443/idp/profile/SAML2/SOAP/ArtifactResolution" index="2"/>'
        f'<SingleLogoutService Binding="{SOAP}" Location="{host}:8443/idp/profile/SAML2/SOAP/SLO"/>'
        f'<SingleLogoutService Binding="{REDIRECT}" Location="{host}/idp/profile/SAML2/Redirect/SLO"/>'
        f'<SingleLogoutService Binding="{POST}" Location="{host}/idp/profile/SAML2/POST/SLO"/>'
        "<NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</NameIDFormat>"
        '<SingleSignOnService Binding="urn:mace:shibboleth:1.0:profiles:AuthnRequest" '
        f'Location="{host}/idp/profile/Shibboleth/SSO"/>'
        f'<SingleSignOnService Binding="{POST}" Location="{host}/idp/profile/SAML2/POST/SSO"/>'
        '<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST-SimpleSign" '
        f'Location="{host}/idp/profile/SAML2/POST-SimpleSign/SSO"/>'
        f'<SingleSignOnService Binding="{REDIRECT}" Location="{host}/idp/profile/SAML2/Redirect/SSO"/>'
        "</IDPSSODescriptor>"
        '<AttributeAuthorityDescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f'<AttributeService Binding="{SOAP}" Location="{host}:8443/idp/profile/SAML2/SOAP/AttributeQuery"/>'
        "</AttributeAuthorityDescriptor></EntityDescriptor>"
    ).encode()


def google(
    entity_id: str = "https://accounts.google.com/o/saml2?idpid=C01a2b3c4",
    certs: tuple[bytes, ...] = (),
    valid_until: str = "2031-05-01T12:00:00.000Z",
) -> bytes:
    """Google Workspace's custom SAML app metadata: validUntil years ahead, one certificate, email NameID."""
    certs = certs or (cert("Google"),)
    url = "https://accounts.google.com/o/saml2/idp?idpid=C01a2b3c4"
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>'
        f'<md:EntityDescriptor xmlns:md="{MD}" entityID="{entity_id}" validUntil="{valid_until}">'
        '<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        + "".join(key_descriptor(c) for c in certs)
        + f"<md:NameIDFormat>{EMAIL}</md:NameIDFormat>"
        f'<md:SingleSignOnService Binding="{REDIRECT}" Location="{url}"/>'
        f'<md:SingleSignOnService Binding="{POST}" Location="{url}"/>'
        "</md:IDPSSODescriptor></md:EntityDescriptor>"
    ).encode()


def sp(entity_id: str = "https://app.partner.example/saml/metadata") -> bytes:
    """A service provider's metadata (what ops sometimes upload by mistake)."""
    return (
        f'<md:EntityDescriptor xmlns:md="{MD}" entityID="{entity_id}">'
        '<md:SPSSODescriptor AuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        + key_descriptor(cert("Partner SP"))
        + f'<md:AssertionConsumerService Binding="{POST}" Location="https://app.partner.example/saml/acs" index="1"/>'
        "</md:SPSSODescriptor></md:EntityDescriptor>"
    ).encode()


def aggregate(
    *entities: bytes, valid_until: str | None = None, cache_duration: str | None = None, id_attr: str | None = None
) -> bytes:
    """An EntitiesDescriptor around the given entities, as a federation publishes it."""
    attrs = "".join(
        f' {k}="{v}"' for k, v in (("ID", id_attr), ("validUntil", valid_until), ("cacheDuration", cache_duration)) if v
    )
    inner = b"".join(e.split(b"?>", 1)[1] if e.startswith(b"<?xml") else e for e in entities)
    return (
        (
            f'<?xml version="1.0" encoding="UTF-8"?><md:EntitiesDescriptor xmlns:md="{MD}" Name="urn:example:federation"{attrs}>'
            '<md:Extensions><mdrpi:PublicationInfo xmlns:mdrpi="urn:oasis:names:tc:SAML:metadata:rpi" '
            'publisher="https://federation.example.org" creationInstant="2026-01-01T00:00:00Z"/></md:Extensions>'
        ).encode()
        + inner
        + b"</md:EntitiesDescriptor>"
    )


def sign(
    xml: bytes,
    key_pem: bytes,
    cert_pem: bytes,
    *,
    algorithm=xmlsec.constants.TransformRsaSha256,
    digest=xmlsec.constants.TransformSha256,
) -> bytes:
    """Sign a metadata document the way federations do: one enveloped signature over the root (which needs an ID)."""
    root = etree.fromstring(xml)
    if not root.get("ID"):
        root.set("ID", "_metadata")
    signature = xmlsec.template.create(root, xmlsec.constants.TransformExclC14N, algorithm)
    root.insert(0, signature)
    reference = xmlsec.template.add_reference(signature, digest, uri="#" + root.get("ID"))
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
    key = xmlsec.Key.from_memory(key_pem, xmlsec.constants.KeyDataFormatPem)
    key.load_cert_from_memory(cert_pem, xmlsec.constants.KeyDataFormatPem)
    context = xmlsec.SignatureContext()
    context.key = key
    xmlsec.tree.add_ids(root, ["ID"])
    context.sign(signature)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
