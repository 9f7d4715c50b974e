"""Several app instances share nothing but the database: state must live there, atomically."""

from __future__ import annotations

import threading

import pytest

from sp.extensions import db
from sp.models import ReplayEntry, User, UserSession
from support.journeys import make_app, post_acs, rows, start_login


@pytest.fixture
def second_instance(database, settings_dir):
    other = make_app(database, settings_dir)
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_login_started_on_one_instance_completes_on_another(client, app, acme, builder, second_instance):
    request_id = start_login(client, acme, "/from-a")
    # The same browser (its cookies), whose next request a load balancer sends to instance B.
    on_b = second_instance.test_client()
    started = client.get_cookie("__Host-sp_saml_started", domain="sp.example.com")
    on_b.set_cookie(started.key, started.value, domain="sp.example.com")
    landed = post_acs(on_b, acme, builder.b64(in_response_to=request_id))
    assert landed.status_code == 303 and landed.headers["Location"] == "/from-a"
    assert on_b.get("/me").status_code == 200


def test_a_replay_to_another_instance_is_refused(client, app, acme, builder, second_instance):
    message = builder.b64()
    assert post_acs(client, acme, message).status_code == 303
    replayed = post_acs(second_instance.test_client(), acme, message)
    assert replayed.status_code == 400 and b"saml.replay" in replayed.data


def test_a_session_is_visible_to_every_instance_and_revoked_for_all(client, app, acme, builder, second_instance):
    post_acs(client, acme, builder.b64())
    cookie = client.get_cookie("__Host-sp_session", domain="sp.example.com").value
    on_b = second_instance.test_client()
    on_b.set_cookie("__Host-sp_session", cookie, domain="sp.example.com")
    assert on_b.get("/me").status_code == 200
    client.post("/logout", data={"csrf_token": client.csrf_token("/")})
    assert on_b.get("/me").status_code == 401


def test_concurrent_first_logins_of_one_user_create_exactly_one_user(app, acme, builder, second_instance):
    instances = [app, second_instance] * 3
    messages = [builder.b64() for _ in instances]  # six genuine assertions for the same NameID
    start = threading.Barrier(len(instances))
    statuses: list[int] = []

    def log_in(instance, message):
        browser = instance.test_client()
        start.wait()
        statuses.append(post_acs(browser, acme, message).status_code)

    threads = [threading.Thread(target=log_in, args=pair) for pair in zip(instances, messages, strict=False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [303] * len(instances)
    assert len(rows(app, User)) == 1
    assert len(rows(app, UserSession)) == len(instances)
    assert len(rows(app, ReplayEntry)) == len(instances)


def test_the_same_assertion_raced_on_two_instances_logs_in_exactly_once(app, acme, builder, second_instance):
    message = builder.b64()
    start = threading.Barrier(2)
    statuses: list[int] = []

    def log_in(instance):
        browser = instance.test_client()
        start.wait()
        statuses.append(post_acs(browser, acme, message).status_code)

    threads = [threading.Thread(target=log_in, args=(i,)) for i in (app, second_instance)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [303, 400]
    assert len(rows(app, UserSession)) == 1
