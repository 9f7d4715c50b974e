"""Picking one IdP from an eduGAIN-size aggregate: our streaming picker versus python3-saml.

Generates a 10,000-entity EntitiesDescriptor (SPs and IdPs shaped like federation entries:
UI info, registration info, entity attributes, signing and encryption certificates, contacts)
into a temporary directory, then picks one IdP near the end of it with
`sp.saml.idp_metadata.read` (iterparse, clearing each entity as it goes) and with python3-saml's
`OneLogin_Saml2_IdPMetadataParser.parse(xml, entity_id=...)` (whole DOM). Each run is a fresh
subprocess, so its peak resident memory (ru_maxrss) is its own; the best time and the highest
peak of the rounds are reported. Targets: under 3 s and under 300 MB for ours.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

ENTITIES = 10_000
ROUNDS = 3
TARGET_SECONDS = 3.0
TARGET_MB = 300.0
MD = "urn:oasis:names:tc:SAML:2.0:metadata"


def _entity(index: int, certs: list[str]) -> str:
    """One federation entry: every fourth entity is an IdP, the others SPs."""
    idp = index % 4 == 0
    host = f"{'idp' if idp else 'sp'}{index}.uni{index % 997}.example.edu"
    entity_id = f"https://{host}/{'idp/shibboleth' if idp else 'shibboleth'}"
    sign, encrypt, extra = (certs[(index + k) % len(certs)] for k in range(3))
    ui = (
        "<mdui:UIInfo>"
        f'<mdui:DisplayName xml:lang="en">University {index} {"Identity Provider" if idp else "Research Portal"}</mdui:DisplayName>'
        f'<mdui:DisplayName xml:lang="de">Universität {index}</mdui:DisplayName>'
        f'<mdui:Description xml:lang="en">Service {index} of a research and education federation, '
        "listed here to make the entity the size real entries have.</mdui:Description>"
        f'<mdui:InformationURL xml:lang="en">https://{host}/about</mdui:InformationURL>'
        f'<mdui:PrivacyStatementURL xml:lang="en">https://{host}/privacy</mdui:PrivacyStatementURL>'
        f'<mdui:Logo height="60" width="80">https://{host}/logo.png</mdui:Logo>'
        "</mdui:UIInfo>"
    )
    extensions = (
        "<md:Extensions>"
        f'<mdrpi:RegistrationInfo registrationAuthority="https://federation{index % 40}.example.org" '
        'registrationInstant="2019-04-01T10:00:00Z">'
        f'<mdrpi:RegistrationPolicy xml:lang="en">https://federation{index % 40}.example.org/policy</mdrpi:RegistrationPolicy>'
        "</mdrpi:RegistrationInfo>"
        '<mdattr:EntityAttributes><saml:Attribute Name="http://macedir.org/entity-category" '
        'NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">'
        "<saml:AttributeValue>http://refeds.org/category/research-and-scholarship</saml:AttributeValue>"
        "</saml:Attribute></mdattr:EntityAttributes>"
        "</md:Extensions>"
    )
    keys = "".join(
        f'<md:KeyDescriptor use="{use}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}'
        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        # Many entries list two signing certificates (a rollover) and an encryption one.
        for use, cert in (("signing", sign), ("signing", extra), ("encryption", encrypt))
    )
    if idp:
        role = (
            '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol '
            'urn:oasis:names:tc:SAML:1.1:protocol urn:mace:shibboleth:1.0">'
            f'<md:Extensions><shibmd:Scope regexp="false">uni{index}.example.edu</shibmd:Scope>{ui}</md:Extensions>'
            f"{keys}"
            f'<md:ArtifactResolutionService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" '
            f'Location="https://{host}:8443/idp/profile/SAML2/SOAP/ArtifactResolution" index="1"/>'
            f'<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
            f'Location="https://{host}/idp/profile/SAML2/Redirect/SLO"/>'
            "<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat>"
            "<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>"
            f'<md:SingleSignOnService Binding="urn:mace:shibboleth:1.0:profiles:AuthnRequest" '
            f'Location="https://{host}/idp/profile/Shibboleth/SSO"/>'
            f'<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
            f'Location="https://{host}/idp/profile/SAML2/POST/SSO"/>'
            f'<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
            f'Location="https://{host}/idp/profile/SAML2/Redirect/SSO"/>'
            "</md:IDPSSODescriptor>"
        )
    else:
        role = (
            '<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            f"<md:Extensions>{ui}</md:Extensions>{keys}"
            "<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>"
            f'<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
            f'Location="https://{host}/Shibboleth.sso/SAML2/POST" index="1"/>'
            f'<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" '
            f'Location="https://{host}/Shibboleth.sso/SAML2/Artifact" index="2"/>'
            "</md:SPSSODescriptor>"
        )
    contacts = "".join(
        f'<md:ContactPerson contactType="{kind}"><md:GivenName>Team {kind}</md:GivenName>'
        f"<md:EmailAddress>mailto:{kind}@uni{index}.example.edu</md:EmailAddress></md:ContactPerson>"
        for kind in ("technical", "support")
    )
    return (
        f'<md:EntityDescriptor entityID="{entity_id}">{extensions}{role}'
        f'<md:Organization><md:OrganizationName xml:lang="en">University {index}</md:OrganizationName>'
        f'<md:OrganizationDisplayName xml:lang="en">University {index}</md:OrganizationDisplayName>'
        f'<md:OrganizationURL xml:lang="en">https://uni{index}.example.edu/</md:OrganizationURL></md:Organization>'
        f"{contacts}</md:EntityDescriptor>\n"
    )


def generate(path: Path, count: int = ENTITIES) -> str:
    """Write the aggregate to path; return the entity ID of the IdP the contenders pick."""
    from support.keys import cert_body, make_key_pair

    certs = [cert_body(make_key_pair(f"Federation member {i}")[1]) for i in range(8)]
    with path.open("w", encoding="utf-8") as out:
        out.write(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<md:EntitiesDescriptor xmlns:md="{MD}" '
            'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" '
            'xmlns:mdrpi="urn:oasis:names:tc:SAML:metadata:rpi" xmlns:mdattr="urn:oasis:names:tc:SAML:metadata:attribute" '
            'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:shibmd="urn:mace:shibboleth:metadata:1.0" '
            'Name="urn:mace:example.org:federation" validUntil="2099-01-01T00:00:00Z" cacheDuration="PT6H">\n'
        )
        for index in range(count):
            out.write(_entity(index, certs))
        out.write("</md:EntitiesDescriptor>\n")
    target = count - count // 10
    target -= target % 4
    return f"https://idp{target}.uni{target % 997}.example.edu/idp/shibboleth"


def contender(name: str, path: str, entity_id: str) -> None:
    """Run one contender in this (fresh) process and print its time and peak memory as JSON."""
    from sp.saml import metadata as idp_metadata
    from sp.saml import toolkit

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    if name == "ours":
        with open(path, "rb") as source:
            found = idp_metadata.read(source, entity_id=entity_id).entity_id
    else:
        found = toolkit.parse_idp_metadata_stock(Path(path).read_text(encoding="utf-8"), entity_id)["entity_id"]
    seconds = time.perf_counter() - start
    if found != entity_id:
        raise SystemExit(f"{name} picked {found!r}, not {entity_id!r}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "baseline_mb": before}))


def measure(name: str, path: Path, entity_id: str) -> dict:
    runs = []
    for _ in range(ROUNDS):
        done = subprocess.run(
            [sys.executable, __file__, "--contender", name, str(path), entity_id],
            check=True,
            capture_output=True,
            text=True,
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {
        "seconds": min(r["seconds"] for r in runs),
        "peak_mb": max(r["peak_mb"] for r in runs),
        "baseline_mb": min(r["baseline_mb"] for r in runs),
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-metadata-") as folder:
        path = Path(folder) / "aggregate.xml"
        entity_id = generate(path)
        size_mb = path.stat().st_size / 1024 / 1024
        print(f"aggregate: {ENTITIES:,} entities, {size_mb:.1f} MB; picking {entity_id}")
        ours = measure("ours", path, entity_id)
        stock = measure("python3-saml", path, entity_id)
    for label, result in (("ours (iterparse)", ours), ("python3-saml IdPMetadataParser", stock)):
        print(
            f"{label:<32} {result['seconds']:6.2f} s   peak {result['peak_mb']:6.0f} MB "
            f"(interpreter and imports: {result['baseline_mb']:.0f} MB)"
        )
    print(
        f"ratio (python3-saml / ours): time {stock['seconds'] / ours['seconds']:.1f}x, "
        f"peak memory {stock['peak_mb'] / ours['peak_mb']:.1f}x"
    )
    within = ours["seconds"] < TARGET_SECONDS and ours["peak_mb"] < TARGET_MB
    print(f"target (< {TARGET_SECONDS:.0f} s, < {TARGET_MB:.0f} MB): {'met' if within else 'MISSED'}")
    if not within:
        sys.exit(1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contender", choices=("ours", "python3-saml"))
    parser.add_argument("path", nargs="?")
    parser.add_argument("entity_id", nargs="?")
    args = parser.parse_args()
    if args.contender:
        contender(args.contender, args.path, args.entity_id)
    else:
        main()
