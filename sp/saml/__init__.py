"""The SAML 2.0 protocol, and nothing else: python3-saml, xmlsec and the XML work live here.

No web framework, no database: inputs are bytes, strings and the frozen settings in
`sp.saml.config`; outputs are plain dataclasses. `xml` parses untrusted messages once,
`response` checks and verifies a Response, `logout` the logout messages, `signature` owns
signature shapes and xmlsec, `bindings` the HTTP bindings, `messages` what we send,
`metadata` an IdP's metadata, `keys` our key pair, `certificates` X.509 helpers.
"""
