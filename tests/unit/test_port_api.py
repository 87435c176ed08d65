import pytest

from aifactory_hub.hubside.port_api import parse_port_report


def test_port_only():
    assert parse_port_report({"port": 40123}) == 40123


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {},
        {"port": "40123"},
        {"port": True},
        {"port": 80},
        {"port": 70000},
        {"port": 40123, "cmd": ["/bin/sh"]},
        {"port": 40123, "ip": "10.0.0.1"},
        {"cmd": "x"},
    ],
)
def test_anything_else_is_refused(body):
    with pytest.raises(ValueError):
        parse_port_report(body)
